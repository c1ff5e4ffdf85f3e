library(testthat)
library(diffputer)

test_check("diffputer")
