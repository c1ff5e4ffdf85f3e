# The Python interpreter that runs diffputer
# 
# Looked up in this order: \code{getOption("diffputer.python")}, the environment
# variable \code{DIFFPUTER_PYTHON}, then \code{python3} on the \code{PATH}.

diffputer_python <- function() {
  option <- getOption("diffputer.python")
  if (!is.null(option) && nzchar(option)) return(path.expand(option))
  variable <- Sys.getenv("DIFFPUTER_PYTHON")
  if (nzchar(variable)) return(path.expand(variable))
  found <- Sys.which("python3")
  if (nzchar(found)) return(unname(found))
  stop("No Python interpreter found: set options(diffputer.python = \"/path/to/python\") ",
       "or the environment variable DIFFPUTER_PYTHON, or put python3 on the PATH.",
       call. = FALSE)
}

# The environment of the Python process: R prepends its own library folders to
# LD_LIBRARY_PATH (R_LD_LIBRARY_PATH); a Python process started with them can load
# the wrong shared libraries, so they are taken out again.
python_environment <- function() {
  library_path <- Sys.getenv("LD_LIBRARY_PATH")
  r_library_path <- Sys.getenv("R_LD_LIBRARY_PATH")
  if (nzchar(r_library_path) && startsWith(library_path, r_library_path)) {
    library_path <- sub("^:", "", substring(library_path, nchar(r_library_path) + 1L))
  }
  c("current", LD_LIBRARY_PATH = library_path, PYTHONIOENCODING = "utf-8")
}

# Run Python with an argument vector (no shell); echo its output to the console.
run_python <- function(args, echo = TRUE, python = diffputer_python()) {
  if (!file.exists(python) && !nzchar(Sys.which(python))) {
    stop("The Python interpreter '", python, "' does not exist. Point ",
         "options(diffputer.python = ) or DIFFPUTER_PYTHON at a Python with diffputer ",
         "installed (pip install \"diffputer[r]\").", call. = FALSE)
  }
  processx::run(python, args, echo = echo, error_on_status = FALSE,
                env = python_environment(), stderr_to_stdout = TRUE)
}

# Check the Python side of diffputer
# 
# Finds the Python interpreter (see \code{\link{diffputer_python}}) and checks that it
# can import the diffputer package and its R bridge (rpy2, with this R and mice).
# Reports what is missing and how to fix it.
# 
# @param python Path of the Python interpreter to check.
# @return Invisibly, a list with \code{python}, \code{ok} (logical), \code{versions}
#   (character) and \code{problems} (character).
# @export
diffputer_python_check <- function(python = diffputer_python()) {
  script <- paste(
    "import importlib, importlib.metadata as md",
    "for name, dist in [('diffputer', 'diffputer'), ('torch', 'torch'), ('rpy2', 'rpy2')]:",
    "    try:",
    "        importlib.import_module(name); print('ok', name, md.version(dist))",
    "    except Exception as err:",
    "        print('missing', name, type(err).__name__ + ': ' + str(err).replace(chr(10), ' '))",
    "try:",
    "    from diffputer import r_bridge; r_bridge._r('mids'); r = r_bridge._robjects().r",
    "    print('ok mice', r['as.character'](r['packageVersion']('mice'))[0])",
    "except Exception as err:",
    "    print('missing mice', str(err).replace(chr(10), ' '))",
    sep = "\n")
  result <- tryCatch(run_python(c("-c", script), echo = FALSE, python = python),
                     error = function(e) list(status = -1L, stdout = conditionMessage(e)))
  lines <- strsplit(result$stdout, "\n", fixed = TRUE)[[1]]
  ok_lines <- grep("^ok ", lines, value = TRUE)
  problems <- sub("^missing ", "", grep("^missing ", lines, value = TRUE))
  if (result$status != 0L || length(ok_lines) < 4L) {
    problems <- c(problems, if (!length(problems)) paste(lines, collapse = " "))
  }
  ok <- length(problems) == 0L
  versions <- sub("^ok ", "", ok_lines)
  message("Python: ", python)
  if (length(versions)) message("  found: ", paste(versions, collapse = ", "))
  if (ok) {
    message("  diffputer is ready.")
  } else {
    message("  problems:\n    ", paste(problems, collapse = "\n    "),
            "\n  fix: ", python, " -m pip install \"diffputer[r]\"",
            " (and R's mice package: apt install r-cran-mice),",
            " or point options(diffputer.python = ) at the Python that has them.")
  }
  invisible(list(python = python, ok = ok, versions = versions, problems = problems))
}
