//===- DistributedTest.cpp - Data-parallel pieces of the runtime ----------===//
///
/// The parts of data-parallel training that need no MPI, driven through a
/// fake communicator standing for one rank of a larger run: the shard of a
/// global batch each rank takes (DistributedSampler order, weights that add
/// up to 1, a rank left without a sample), the per-rank dropout seeds,
/// adj_rt_allreduce's weighting and timing, and the replica check's error
/// when the ranks' checksums differ. The MPI runs themselves are the lit
/// tests under tests/lit/mpi.
///
//===----------------------------------------------------------------------===//

#include "runtime/Distributed.h"
#include "runtime/Trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

using namespace adj::rt;

namespace {

/// Rank `R` of `K`: sum() adds `Others` (the other ranks' contribution) and
/// max() the values the other ranks would bring.
class FakeComm final : public Comm {
public:
  FakeComm(int R, int K) : R(R), K(K) {}
  int rank() const override { return R; }
  int size() const override { return K; }
  void sum(void *buf, int64_t count, adj_rt_dtype t) override {
    ASSERT_EQ(t, ADJ_RT_F32);
    auto *p = static_cast<float *>(buf);
    Seen.assign(p, p + count);
    for (int64_t i = 0; i < count; ++i)
      p[i] += Others[size_t(i)];
  }
  void max(uint64_t *buf, int count) override {
    for (int i = 0; i < count; ++i)
      buf[i] = std::max(buf[i], OtherMax[size_t(i)]);
  }
  void broadcast(void *, size_t bytes) override { Broadcast += bytes; }

  int R, K;
  std::vector<float> Others, Seen;
  std::vector<uint64_t> OtherMax{0, 0};
  size_t Broadcast = 0;
};

/// Installs a communicator for one test.
struct Installed {
  explicit Installed(Comm *c) { setComm(c); }
  ~Installed() { setComm(nullptr); }
};

} // namespace

TEST(Distributed, ShardsPartitionTheGlobalBatch) {
  std::vector<int64_t> order(37);
  std::iota(order.rbegin(), order.rend(), int64_t(100));
  for (int k : {1, 2, 3, 4, 8})
    for (int64_t n :
         {int64_t(1), int64_t(2), int64_t(5), int64_t(13), int64_t(16)})
      for (const int64_t *o : {static_cast<const int64_t *>(nullptr),
                               static_cast<const int64_t *>(order.data())}) {
        const int64_t first = 20;
        std::multiset<int64_t> all;
        double weights = 0;
        for (int r = 0; r < k; ++r) {
          std::vector<int64_t> rows;
          double w = shardRows(o, first, n, r, k, rows);
          weights += w;
          ASSERT_FALSE(rows.empty());
          if (w == 0) { // a placeholder row of the batch, counted nowhere
            EXPECT_LT(n, k);
            EXPECT_EQ(rows, std::vector<int64_t>{o ? o[first] : first});
            continue;
          }
          EXPECT_EQ(w, double(rows.size()) / double(n));
          // Every k-th position from first + r.
          for (size_t j = 0; j < rows.size(); ++j) {
            int64_t pos = first + r + int64_t(j) * k;
            EXPECT_EQ(rows[j], o ? o[pos] : pos) << k << " " << n << " " << r;
          }
          all.insert(rows.begin(), rows.end());
        }
        std::multiset<int64_t> batch;
        for (int64_t pos = first; pos < first + n; ++pos)
          batch.insert(o ? o[pos] : pos);
        EXPECT_EQ(all, batch) << "k " << k << " n " << n;
        EXPECT_NEAR(weights, 1.0, 1e-12);
      }
}

TEST(Distributed, DropoutSeedsDifferPerRank) {
  EXPECT_EQ(rankSeed(42), 42u); // no communicator: the run's seed
  std::set<uint64_t> seeds;
  for (int r = 0; r < 16; ++r) {
    FakeComm c(r, 16);
    Installed in(&c);
    uint64_t s = rankSeed(42);
    EXPECT_EQ(s, rankSeed(42)); // reproducible
    if (r == 0)
      EXPECT_EQ(s, 42u);
    seeds.insert(s);
  }
  EXPECT_EQ(seeds.size(), 16u);
}

TEST(Distributed, AllReduceIsTheIdentityInOneProcess) {
  float buf[3] = {1, 2, 3};
  adj_rt_allreduce(buf, 3, ADJ_RT_F32);
  EXPECT_EQ(buf[0], 1);
  EXPECT_EQ(buf[2], 3);
  EXPECT_EQ(ranks(), 1);
  EXPECT_EQ(rankPrefix(), "");
}

TEST(Distributed, AllReduceSumsOverTheRanks) {
  // Rank 1 of 2 with 2 of a last batch of 5 rows: weight 2/5.
  FakeComm c(1, 2);
  Installed in(&c);
  EXPECT_EQ(rankPrefix(), "rank 1: ");
  std::vector<int64_t> rows;
  double w = shardRows(nullptr, 0, 5, 1, 2, rows);
  EXPECT_EQ(rows, (std::vector<int64_t>{1, 3}));
  EXPECT_DOUBLE_EQ(w, 0.4);
  // adj_rt_allreduce scales by the weight gatherShard last set (1: this
  // process trained nothing) and sums through the communicator.
  c.Others = {10, 20};
  float buf[2] = {4, 8};
  int64_t calls = allReduceCalls();
  adj_rt_allreduce(buf, 2, ADJ_RT_F32);
  EXPECT_EQ(allReduceCalls(), calls + 1);
  EXPECT_GE(allReduceSeconds(), 0);
  EXPECT_EQ(c.Seen, (std::vector<float>{4, 8}));
  EXPECT_EQ(buf[0], 14);
  EXPECT_EQ(buf[1], 28);
}

TEST(Distributed, DivergedReplicasAreAnError) {
  State state;
  auto s = std::make_unique<Slot>();
  s->Name = "w";
  s->Count = 4;
  ASSERT_TRUE(s->allocate());
  state.Params.push_back(std::move(s));
  auto b = std::make_unique<Slot>();
  b->Name = "running_mean";
  b->Buffer = true;
  b->Count = 2;
  ASSERT_TRUE(b->allocate());
  state.Params.push_back(std::move(b));

  EXPECT_EQ(syncReplicas(state, 3, 1), 0); // one process: nothing to check

  FakeComm c(0, 2);
  Installed in(&c);
  // The other rank has the same checksum: max(h, h), max(~h, ~h).
  c.OtherMax = {0, 0};
  EXPECT_EQ(syncReplicas(state, 3, 1), 0);
  EXPECT_EQ(c.Broadcast, 8u); // rank 0's buffer, not the parameter
  // Another checksum on the other rank: its max exceeds ours.
  c.OtherMax = {~uint64_t(0), 0};
  ASSERT_NE(syncReplicas(state, 7, 2), 0);
  EXPECT_NE(std::string(adj_rt_last_error())
                .find("ranks diverged: the parameters and optimizer state "
                      "differ between ranks after step 7 (epoch 2)"),
            std::string::npos)
      << adj_rt_last_error();
}
