# Tutorial 4: diffputer from R, used exactly like mice.
#
# Set-up, once: the Python package with its R extra, and this R package.
#   python3 -m pip install "diffputer[r]"
#   R CMD INSTALL r-bridge
# If the Python that has diffputer is not `python3` on the PATH, tell R where it is:
#   options(diffputer.python = "/path/to/venv/bin/python")   # or DIFFPUTER_PYTHON=...
#
# Run: Rscript tutorials/04_r_package.R

library(diffputer)          # attaches mice too: with(), pool(), complete(), plot() ...
diffputer_python_check()    # says what is missing on the Python side, if anything

# nhanes2 (from mice): 25 people, age group, BMI, hypertension and cholesterol, with holes.
md.pattern(nhanes2, plot = FALSE)

# Five imputations. The progress of EM is printed while it runs.
imp <- diffputer(nhanes2, m = 5, seed = 1)
imp                         # a mids, as mice() returns

# The analysis: fit the model on each completed table, pool with Rubin's rules.
fit <- with(imp, lm(chl ~ age + bmi))
summary(pool(fit), conf.int = TRUE)
pool.r.squared(fit)

# The same analysis on the complete cases only, for comparison: fewer rows, wider intervals.
summary(lm(chl ~ age + bmi, data = nhanes2))$coefficients

# The completed tables: one of them, or all stacked with .imp and .id as in mice.
head(complete(imp, 1))
head(complete(imp, "long"))

# Factors keep their levels; observed values are untouched.
stopifnot(identical(levels(complete(imp, 1)$hyp), levels(nhanes2$hyp)))
stopifnot(all(complete(imp, 1)$chl[!is.na(nhanes2$chl)] == nhanes2$chl[!is.na(nhanes2$chl)]))

# Diagnostics, as after mice(): EM traces of the imputed cells' mean and sd per chain,
# and observed (blue) against imputed (red) distributions.
pdf(file.path(tempdir(), "diffputer-tutorial.pdf"))
plot(imp)
densityplot(imp)
stripplot(imp, chl ~ .imp)
invisible(dev.off())

# Settings of the Python engine pass through by name, e.g. a longer sampler:
imp_fine <- diffputer(nhanes2, m = 2, maxit = 2, seed = 2, n_steps = 25, printFlag = FALSE)
summary(pool(with(imp_fine, lm(chl ~ age + bmi))))
