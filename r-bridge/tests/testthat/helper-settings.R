# Small settings: these tests check the interface, not the accuracy.
tiny_impute <- function(data, m = 3, seed = 1, ...) {
  diffputer(data, m = m, seed = seed, maxit = 2, printFlag = FALSE, width = 32,
            max_steps = 40, n_steps = 4, resample = 1, corrector_steps = 2, n_samples = 2,
            proper_steps = 10, ...)
}

leftover_folders <- function() {
  list.files(tempdir(), pattern = "^diffputer-")
}

mixed_table <- function() {
  set.seed(3)
  n <- 60
  data <- data.frame(
    count = sample(0:9, n, replace = TRUE),
    flag = sample(c(TRUE, FALSE), n, replace = TRUE),
    label = sample(c("red", "green", "blue"), n, replace = TRUE),
    grade = factor(sample(c("low", "mid", "high"), n, replace = TRUE),
                   levels = c("low", "mid", "high"), ordered = TRUE),
    size = rnorm(n),
    group = factor(sample(c("b", "a"), n, replace = TRUE), levels = c("b", "a")),
    stringsAsFactors = FALSE
  )
  for (j in seq_along(data)) data[sample(n, 8), j] <- NA
  data
}
