# lit configuration for Adjoint's FileCheck tests (tests/lit/**).
import os
import lit.formats

config.name = "adjoint"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".adj", ".air", ".test"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py.in"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.adj_obj_root, "tests", "lit")

config.environment["FILECHECK_OPTS"] = "-enable-var-scope"

# The JIT's object cache goes to a directory of this run, emptied first, so
# tests neither use stale objects nor write to the user's ~/.cache.
import shutil
_cache = os.path.join(config.test_exec_root, "adj-cache")
shutil.rmtree(_cache, ignore_errors=True)
config.environment["ADJ_CACHE_DIR"] = _cache
config.environment.pop("ADJ_NO_CACHE", None)
config.environment["PATH"] = os.pathsep.join(
    [config.adj_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])

config.substitutions.append(("%adjc", os.path.join(config.adj_tools_dir, "adjc")))
config.substitutions.append(("%adj-opt", os.path.join(config.adj_tools_dir, "adj-opt")))
config.substitutions.append(("%data", os.path.join(config.adj_src_root, "data")))
config.substitutions.append(("%examples", os.path.join(config.adj_src_root, "examples")))
config.substitutions.append(("%python", "/usr/bin/python3"))

# x86_64 hosts: tests of x86 code generation (ADJ_CPU).
import platform
if platform.machine() in ("x86_64", "AMD64"):
    config.available_features.add("x86_64")

# MPI (data-parallel trainers, tests/lit/mpi): adjc built with MPI and mpirun
# on PATH; %mpirun runs it bounded in time (Inputs/mpirun.py).
if config.adj_mpi and shutil.which("mpirun"):
    config.available_features.add("mpi")
    config.substitutions.append(("%mpirun", "/usr/bin/python3 " + os.path.join(
        config.adj_src_root, "tests", "lit", "mpi", "Inputs", "mpirun.py")))
else:
    lit_config.note("MPI tests are skipped: %s (scripts/bootstrap.sh installs "
                    "openmpi-bin and libopenmpi-dev)" %
                    ("mpirun is not on PATH" if config.adj_mpi
                     else "Adjoint was built without MPI"))
