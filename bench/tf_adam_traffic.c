//===- tf_adam_traffic.c - What fusing Adam into a weight gradient saves -===//
///
/// Measures, for a weight of the TF CNN's dense layer (1024 x 3136 f32, the
/// 12.8 MB of bench/tf_tutorial_cnn.adj's f1w), the memory cost of Adam's
/// update as the step runs it today against an update applied per block of
/// the gradient while the block is still in cache:
///
///   write g     the gradient written once to a 12.8 MB buffer (what the
///               weight-gradient GEMM's stores cost beyond its arithmetic)
///   adam        one fused pass over p, m, v and g, g read back from memory
///               (the step's `train_step.48-49-50.group` kernel)
///   per block   for each block of 16 rows: its gradient written to one
///               200 KB buffer that stays in L2, then Adam over the block
///
/// The update is the step's formula (passes/Optimizer.cpp) with the same
/// operation order. The gradient's arithmetic is not modelled (a constant
/// per element): the figures bound what the fusion can save on memory.
/// Build and run (AVX-512 and the AVX2 path):
///
///   clang -O3 -mavx512f -mavx512vl -mprefer-vector-width=256 \
///     -ffp-contract=fast -fno-math-errno bench/tf_adam_traffic.c -o /tmp/at
///   clang -O3 -march=znver3 -ffp-contract=fast -fno-math-errno \
///     bench/tf_adam_traffic.c -o /tmp/at2
///   taskset -c 0 /tmp/at; taskset -c 0 /tmp/at2
///
/// Prints the median of 7 runs of each, in ms of CPU time.
///
//===----------------------------------------------------------------------===//
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { Rows = 1024, Cols = 3136, BlockRows = 16, Runs = 7 };
static const long Elts = (long)Rows * Cols;
/// Floats of the buffer swept between timings to evict the others (64 MB).
static const long FlushElts = 16L << 20;

static double cpuSeconds(void) {
  struct timespec T;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &T);
  return T.tv_sec + 1e-9 * T.tv_nsec;
}

/// Adam's update of n elements, as passes/Optimizer.cpp emits it (lr 1e-3,
/// betas 0.9 and 0.999, eps 1e-8; the bias corrections are scalars).
static void adam(float *restrict P, float *restrict M, float *restrict V,
                 const float *restrict G, long N, float StepSize,
                 float InvSqrtC2) {
  for (long I = 0; I < N; ++I) {
    float NewM = 0.9f * M[I] + 0.1f * G[I];
    float NewV = 0.999f * V[I] + 0.001f * (G[I] * G[I]);
    M[I] = NewM;
    V[I] = NewV;
    P[I] = P[I] - StepSize * (NewM / (sqrtf(NewV) * InvSqrtC2 + 1e-8f));
  }
}

/// A stand-in for the gradient's stores: n elements written.
static void writeGradient(float *restrict G, long N, float X) {
  for (long I = 0; I < N; ++I)
    G[I] = X + (float)(I & 1023) * 1e-6f;
}

static void flush(float *Big) {
  for (long I = 0; I < FlushElts; I += 16)
    Big[I] += 1;
}

static int byValue(const void *A, const void *B) {
  double X = *(const double *)A, Y = *(const double *)B;
  return (X > Y) - (X < Y);
}

static float *alloc(long N, float Fill) {
  float *P = aligned_alloc(64, N * sizeof(float));
  if (!P) {
    fprintf(stderr, "tf_adam_traffic: out of memory\n");
    exit(1);
  }
  for (long I = 0; I < N; ++I)
    P[I] = Fill;
  return P;
}

int main(void) {
  float *P = alloc(Elts, 0.01f), *M = alloc(Elts, 0.f), *V = alloc(Elts, 0.f);
  float *G = alloc(Elts, 0.f), *Block = alloc((long)BlockRows * Cols, 0.f);
  float *Big = alloc(FlushElts, 0.f);
  double Write[Runs], Adam[Runs], Fused[Runs];
  for (int R = 0; R < Runs; ++R) {
    float StepSize = 1e-3f / (1 - powf(0.9f, R + 1));
    float InvSqrtC2 = 1 / sqrtf(1 - powf(0.999f, R + 1));
    flush(Big);
    double T0 = cpuSeconds();
    writeGradient(G, Elts, R);
    Write[R] = cpuSeconds() - T0;
    flush(Big);
    T0 = cpuSeconds();
    adam(P, M, V, G, Elts, StepSize, InvSqrtC2);
    Adam[R] = cpuSeconds() - T0;
    flush(Big);
    T0 = cpuSeconds();
    for (long Row = 0; Row < Rows; Row += BlockRows) {
      long At = Row * Cols, N = (long)BlockRows * Cols;
      writeGradient(Block, N, R);
      adam(P + At, M + At, V + At, Block, N, StepSize, InvSqrtC2);
    }
    Fused[R] = cpuSeconds() - T0;
  }
  qsort(Write, Runs, sizeof(double), byValue);
  qsort(Adam, Runs, sizeof(double), byValue);
  qsort(Fused, Runs, sizeof(double), byValue);
  printf("write g %.2f ms, adam (g from memory) %.2f ms, together %.2f ms; "
         "per %d-row block (g in L2) %.2f ms\n",
         Write[Runs / 2] * 1e3, Adam[Runs / 2] * 1e3,
         (Write[Runs / 2] + Adam[Runs / 2]) * 1e3, (int)BlockRows,
         Fused[Runs / 2] * 1e3);
  // Keeps the updates observable.
  return P[Elts / 2] == 12345.f;
}
