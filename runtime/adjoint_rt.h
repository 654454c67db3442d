/*===- adjoint_rt.h - The Adjoint runtime's C ABI -----------------*- C -*-===*\
 *
 * What compiled training code and native trainers link against: a plain C
 * interface with no LLVM dependency. A compiler (the JIT in adjc, or an
 * object file emitted ahead of time) describes a model with adj_rt_model:
 * its compiled step functions with the roles and types of their arguments
 * and results, its parameters' initialisers, its data sources and its
 * training defaults. adj_rt_train() then loads the data, initialises the
 * parameters, runs the training loop, evaluates on the test split and writes
 * the report.
 *
 * Every entry point returns 0 on success; on failure it returns non-zero
 * after storing a message readable with adj_rt_last_error(). A generated
 * trainer's main() is `return adj_rt_trainer_main(&model, argc, argv);`.
 *
 * The declarations live in four headers, all included here:
 * adjoint_rt_abi.h (what compiled code calls and is described by, and
 * ADJ_RT_ABI_VERSION), adjoint_rt_train.h (the model description, the run
 * options, adj_rt_train and adj_rt_trainer_main), adjoint_rt_session.h (the
 * session API) and adjoint_rt_io.h (data loaders and checkpoints).
 *
\*===----------------------------------------------------------------------===*/
#ifndef ADJOINT_RT_H
#define ADJOINT_RT_H

#include "runtime/adjoint_rt_abi.h"
#include "runtime/adjoint_rt_io.h"
#include "runtime/adjoint_rt_session.h"
#include "runtime/adjoint_rt_train.h"

#endif /* ADJOINT_RT_H */
