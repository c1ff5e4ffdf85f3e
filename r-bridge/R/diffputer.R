# diffputer(): impute like mice(), with the Python engine, and return a mids.

diffputer <- function(data, m = 5, maxit = NULL, seed = NA, printFlag = TRUE,
                      where = NULL, preset = "fast", device = "auto", ...) {
  call <- match.call()
  data <- check_data(data)
  m <- check_count(m, "m")
  if (!is.null(maxit)) maxit <- check_count(maxit, "maxit")
  seed <- check_seed(seed)
  if (!is.logical(printFlag) || length(printFlag) != 1L || is.na(printFlag)) {
    stop("printFlag must be TRUE or FALSE.", call. = FALSE)
  }
  where <- check_where(where, data)
  preset <- check_string(preset, "preset", c("fast", "paper"))
  device <- check_string(device, "device")
  options <- check_options(list(...))

  folder <- tempfile("diffputer-")
  dir.create(folder)
  on.exit(unlink(folder, recursive = TRUE, force = TRUE), add = TRUE)
  request <- file.path(folder, "request.rds")
  output <- file.path(folder, "mids.rds")
  error_file <- file.path(folder, "error.txt")
  saveRDS(list(data = data, where = where, m = m, maxit = maxit, seed = seed,
               preset = preset, device = device, progress = printFlag,
               options = options, call = paste(deparse(call), collapse = " ")),
          request)
  result <- run_python(c("-m", "diffputer.r_bridge", request, output,
                         "--error-file", error_file), echo = printFlag)
  if (result$status != 0L || !file.exists(output)) {
    message <- if (file.exists(error_file)) {
      paste(readLines(error_file, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
    } else {
      paste0("the Python process failed (exit status ", result$status, "):\n",
             tail_lines(result$stdout, 15L),
             "\nRun diffputer_python_check() to see what is missing.")
    }
    stop(message, call. = FALSE)
  }
  imp <- readRDS(output)
  if (!is.mids(imp)) stop("The Python process returned no mids object.", call. = FALSE)
  imp
}

tail_lines <- function(text, n) {
  lines <- strsplit(text, "\n", fixed = TRUE)[[1]]
  paste(utils::tail(lines, n), collapse = "\n")
}

check_data <- function(data) {
  if (is.matrix(data)) data <- as.data.frame(data)
  if (!is.data.frame(data)) {
    stop("data must be a data.frame or a matrix; got an object of class ",
         paste(class(data), collapse = "/"), ".", call. = FALSE)
  }
  if (nrow(data) < 2L || ncol(data) < 2L) {
    stop("data must have at least 2 rows and 2 columns (a mids holds no fewer); got ",
         nrow(data), " x ", ncol(data), ".", call. = FALSE)
  }
  unusable <- names(data)[make.names(names(data)) != names(data)]
  if (length(unusable)) {
    stop("mice builds formulas from the column names, so they must be syntactic R names; ",
         "rename ", paste0("'", unusable, "'", collapse = ", "),
         " (e.g. names(data) <- make.names(names(data))).", call. = FALSE)
  }
  if (anyDuplicated(names(data))) {
    stop("data has duplicated column names: ",
         paste(unique(names(data)[duplicated(names(data))]), collapse = ", "), ".",
         call. = FALSE)
  }
  as.data.frame(data, stringsAsFactors = FALSE, optional = TRUE)
}

check_count <- function(value, name) {
  if (!is.numeric(value) || length(value) != 1L || is.na(value) || value < 1 ||
      value != round(value)) {
    stop(name, " must be a whole number >= 1; got ", deparse(value), ".", call. = FALSE)
  }
  as.integer(value)
}

check_seed <- function(seed) {
  if (length(seed) == 1L && is.na(seed)) return(NA_integer_)
  if (!is.numeric(seed) || length(seed) != 1L || seed < 0 || seed != round(seed)) {
    stop("seed must be NA or a whole number >= 0; got ", deparse(seed), ".", call. = FALSE)
  }
  as.integer(seed)
}

check_where <- function(where, data) {
  if (is.null(where)) return(NULL)
  if (is.data.frame(where)) where <- as.matrix(where)
  if (!is.logical(where) || !identical(dim(where), dim(data)) || anyNA(where)) {
    stop("where must be a logical matrix without NA of the same dimensions as data (",
         nrow(data), " x ", ncol(data), ").", call. = FALSE)
  }
  where
}

check_string <- function(value, name, choices = NULL) {
  if (!is.character(value) || length(value) != 1L || is.na(value)) {
    stop(name, " must be a single string; got ", deparse(value), ".", call. = FALSE)
  }
  if (!is.null(choices) && !value %in% choices) {
    stop(name, " must be one of ", paste0("\"", choices, "\"", collapse = ", "), "; got \"",
         value, "\".", call. = FALSE)
  }
  value
}

check_options <- function(options) {
  if (!length(options)) return(list())
  names <- names(options)
  if (is.null(names) || any(!nzchar(names))) {
    stop("Settings passed through ... must be named, e.g. n_steps = 20.", call. = FALSE)
  }
  for (name in names) {
    value <- options[[name]]
    if (!is.atomic(value) || length(value) != 1L || is.na(value)) {
      stop("Setting ", name, " must be a single non-missing value; got ", deparse(value),
           ".", call. = FALSE)
    }
  }
  options
}
