test_that("diffputer returns a mids that with(), pool() and complete() accept", {
  imp <- tiny_impute(nhanes2)
  expect_true(is.mids(imp))
  expect_equal(imp$m, 3L)
  expect_equal(imp$iteration, 2L)
  expect_identical(imp$data, nhanes2)
  expect_identical(imp$where, is.na(nhanes2))
  expect_equal(unname(imp$method), c("", "diffputer", "diffputer", "diffputer"))
  expect_equal(dim(imp$chainMean), c(4L, 2L, 3L))
  expect_false(anyNA(imp$chainMean["bmi", , ]))

  fit <- with(imp, lm(chl ~ age + bmi))
  pooled <- summary(pool(fit))
  expect_equal(nrow(pooled), 4L)
  expect_true(all(is.finite(pooled$std.error)))

  long <- complete(imp, "long")
  expect_equal(nrow(long), 3L * nrow(nhanes2))
  expect_equal(names(long), c(".imp", ".id", names(nhanes2)))
  for (i in 1:3) {
    completed <- complete(imp, i)
    expect_false(anyNA(completed))
    observed <- !is.na(nhanes2)
    for (v in names(nhanes2)) {
      expect_identical(completed[[v]][observed[, v]], nhanes2[[v]][observed[, v]])
    }
    expect_identical(levels(completed$hyp), levels(nhanes2$hyp))
    expect_true(is.factor(completed$hyp))
  }
})

test_that("with() + pool() in R equals MultipleImputation.fit() in Python on the same draws", {
  imp <- tiny_impute(nhanes2, m = 4, seed = 7)
  r_pooled <- summary(pool(with(imp, lm(chl ~ age + bmi))), type = "all")
  saved <- tempfile(fileext = ".rds")
  on.exit(unlink(saved))
  saveRDS(imp, saved)
  script <- paste(
    "import sys",
    "from diffputer import r_bridge",
    "mids = r_bridge.read_rds(sys.argv[1])",
    "pooled = r_bridge.from_mids(mids).fit('chl ~ age + bmi')",
    "print(pooled.to_frame()[['estimate', 'std.error', 'df', 'riv', 'fmi']].to_csv(index=False))",
    sep = "\n")
  run <- diffputer:::run_python(c("-c", script, saved), echo = FALSE)
  expect_equal(run$status, 0L)
  py_pooled <- utils::read.csv(text = run$stdout)
  for (column in c("estimate", "std.error", "df", "riv", "fmi")) {
    expect_equal(py_pooled[[column]], r_pooled[[column]], tolerance = 1e-10)
  }
})

test_that("column types, levels and observed values come back unchanged", {
  data <- mixed_table()
  imp <- tiny_impute(data, m = 2)
  for (i in 1:2) {
    completed <- complete(imp, i)
    expect_false(anyNA(completed))
    expect_identical(vapply(completed, function(x) class(x)[1], ""),
                     vapply(data, function(x) class(x)[1], ""))
    expect_identical(levels(completed$grade), levels(data$grade))
    expect_true(is.ordered(completed$grade))
    expect_identical(levels(completed$group), c("b", "a"))
    expect_true(all(completed$label %in% c("red", "green", "blue")))
    expect_true(all(completed$count %in% 0:9))
    for (v in names(data)) {
      observed <- !is.na(data[[v]])
      expect_identical(completed[[v]][observed], data[[v]][observed])
    }
  }
})

test_that("the same seed gives the same imputations", {
  first <- complete(tiny_impute(nhanes2, m = 2, seed = 11), "long")
  second <- complete(tiny_impute(nhanes2, m = 2, seed = 11), "long")
  expect_identical(first, second)
})

test_that("proper = \"bootstrap\" passes through: a mids of draws from their own fits", {
  refit <- tiny_impute(nhanes2, m = 2, seed = 11)
  boot <- tiny_impute(nhanes2, m = 2, seed = 11, proper = "bootstrap")
  expect_true(is.mids(boot))
  expect_false(isTRUE(all.equal(boot$imp$chl, refit$imp$chl)))
  expect_equal(complete(boot, 1)[!is.na(nhanes2$chl), "chl"], nhanes2$chl[!is.na(nhanes2$chl)])
  expect_error(tiny_impute(nhanes2, proper = "bootstrapped"), "proper must be")
})

test_that("where chooses the cells to impute, as in mice", {
  where <- is.na(nhanes2)
  where[1, "chl"] <- FALSE            # missing: left missing
  where[2, "chl"] <- TRUE             # observed (187): imputed anyway
  imp <- tiny_impute(nhanes2, m = 2, where = where)
  expect_identical(imp$where, where)
  expect_equal(nrow(imp$imp$chl), sum(where[, "chl"]))
  expect_true("2" %in% rownames(imp$imp$chl))
  completed <- complete(imp, 1)
  expect_true(is.na(completed$chl[1]))
  expect_equal(completed$chl[2], imp$imp$chl["2", 1])
  expect_false(anyNA(completed$bmi))
  expect_identical(imp$data, nhanes2)
})

test_that("plot(), densityplot() and stripplot() draw the imputations", {
  imp <- tiny_impute(nhanes2)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_s3_class(plot(imp), "trellis")
  expect_no_error(print(plot(imp)))
  expect_no_error(print(densityplot(imp)))
  expect_no_error(print(stripplot(imp)))
})

test_that("bad arguments give R errors with clear messages", {
  expect_error(diffputer("not a table"), "data must be a data.frame")
  expect_error(diffputer(nhanes2, m = 0), "m must be a whole number")
  expect_error(diffputer(nhanes2, maxit = 1.5), "maxit must be a whole number")
  expect_error(diffputer(nhanes2, seed = "a"), "seed must be NA or a whole number")
  expect_error(diffputer(nhanes2, preset = "slow"), "preset must be one of")
  expect_error(diffputer(nhanes2, where = matrix(TRUE, 2, 2)), "where must be a logical matrix")
  expect_error(diffputer(nhanes2, 2, 1, 1, FALSE, NULL, "fast", "cpu", 40), "must be named")
  # Errors raised in Python arrive with the Python message.
  expect_error(diffputer(nhanes2, printFlag = FALSE, bogus_setting = 1), "bogus_setting")
  dated <- data.frame(day = Sys.Date() + 1:5, x = c(1, NA, 3, 4, 5))
  expect_error(diffputer(dated, printFlag = FALSE), "Column 'day' has R class Date")
  expect_error(diffputer(nhanes2, printFlag = FALSE, n_steps = -1), "n_steps")
})

test_that("temporary files are removed after success and after failure", {
  before <- leftover_folders()
  tiny_impute(nhanes2, m = 1)
  try(diffputer(nhanes2, printFlag = FALSE, bogus_setting = 1), silent = TRUE)
  expect_identical(leftover_folders(), before)
})

test_that("the Python interpreter is found and checked", {
  withr_option <- getOption("diffputer.python")
  on.exit(options(diffputer.python = withr_option))
  options(diffputer.python = "/nonexistent/python3")
  expect_identical(diffputer_python(), "/nonexistent/python3")
  expect_error(diffputer(nhanes2, printFlag = FALSE), "/nonexistent/python3")
  report <- suppressMessages(diffputer_python_check())
  expect_false(report$ok)
  options(diffputer.python = withr_option)
  report <- suppressMessages(diffputer_python_check())
  expect_true(report$ok)
  expect_true(any(grepl("^diffputer ", report$versions)))
})

test_that("a Python without the diffputer package gives an R error saying so", {
  wrapper <- tempfile("python-without-site-")
  writeLines(c("#!/bin/sh", paste0('exec "', diffputer_python(), '" -S "$@"')), wrapper)
  Sys.chmod(wrapper, "0755")
  on.exit(unlink(wrapper))
  old <- options(diffputer.python = wrapper)
  on.exit(options(old), add = TRUE)
  expect_error(diffputer(nhanes2, printFlag = FALSE), "No module named")
  expect_error(diffputer(nhanes2, printFlag = FALSE), "diffputer_python_check")
})

test_that("messy tables: one column, unicode names, almost all missing, too few rows", {
  # mice's mids needs two columns; Python's impute() takes one (tests/test_bad_input.py)
  expect_error(diffputer(data.frame(x = c(1, NA, 3)), printFlag = FALSE),
               "at least 2 rows and 2 columns")

  named <- nhanes2
  names(named) <- c("\u00e2ge", "bmi", "hyp", "chl")  # syntactic in a UTF-8 locale only
  if (make.names(names(named)[1]) == names(named)[1]) {
    expect_identical(names(complete(tiny_impute(named, m = 1), 1)), names(named))
  } else {
    expect_error(diffputer(named, printFlag = FALSE), "rename")
  }
  names(named)[2] <- "bmi \u2602"
  expect_error(diffputer(named, printFlag = FALSE), "rename 'bmi \u2602'")

  set.seed(5)
  sparse <- data.frame(x = rnorm(100), y = c(2.5, rep(NA, 99)))  # 99% missing
  completed <- suppressWarnings(complete(tiny_impute(sparse, m = 1), 1))
  expect_false(anyNA(completed))
  expect_identical(completed$x, sparse$x)

  expect_error(diffputer(nhanes2[1, ], printFlag = FALSE), "at least 2 rows and 2 columns")
  empty <- nhanes2
  empty$none <- NA_real_
  expect_error(diffputer(empty, printFlag = FALSE), "Column 'none' has no observed value")
})

test_that("messy values: whole numbers stored as double, NaN, numbers written as strings", {
  data <- data.frame(
    whole = c(1, 2, NA, 4, 5, 6, NaN, 8, 9, 10, 11, 12),   # double, NaN is missing too
    code = c("10", "20", "10", NA, "30", "20", "10", "30", NA, "20", "10", "30"),
    size = c(0.5, NA, 1.5, 2.1, 0.3, NA, 1.1, 0.9, 1.7, 0.2, 1.4, 0.8),
    stringsAsFactors = FALSE
  )
  completed <- complete(tiny_impute(data, m = 1), 1)
  expect_false(anyNA(completed))
  expect_type(completed$whole, "double")         # not turned into integer
  expect_type(completed$code, "character")       # not turned into numbers
  expect_true(all(completed$code %in% c("10", "20", "30")))
  for (v in names(data)) {
    observed <- !is.na(data[[v]])
    expect_identical(completed[[v]][observed], data[[v]][observed])
  }
})
