// CPU kernel of atrc::boundary_counts: for every threshold t, the map prob >= t is thinned
// (the two-subiteration bwmorph 'thin' rule, as deletion tables from Python) and matched
// one-to-one to the GT edge pixels within the radius (Hopcroft-Karp maximum matching). The
// same op has a NumPy kernel (atrc_nas/ops/edge_counts.py); both must give equal counts.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

namespace atrc {
namespace {

// (row, col) offsets of the neighbours x1..x8, counter-clockwise from the east one.
constexpr int kNeighbourRows[8] = {0, -1, -1, -1, 0, 1, 1, 1};
constexpr int kNeighbourCols[8] = {1, 1, 0, -1, -1, -1, 0, 1};

// Thinning of one binary map in a zero-bordered buffer. A pixel is re-examined only when a
// neighbour was deleted since its subiteration last looked at it; every subiteration
// decides for all its candidates from the same state before deleting any.
class Thinner {
 public:
  Thinner(int64_t height, int64_t width, const bool* tables)
      : row_(width + 2), size_((height + 2) * (width + 2)), tables_(tables),
        image_(size_), pending_{std::vector<uint8_t>(size_), std::vector<uint8_t>(size_)} {
    for (int k = 0; k < 8; ++k) offsets_[k] = kNeighbourRows[k] * row_ + kNeighbourCols[k];
  }

  int64_t row() const { return row_; }
  std::vector<uint8_t>& image() { return image_; }

  // Thins image() in place; its border must be 0.
  void run() {
    for (int s = 0; s < 2; ++s) {
      queue_[s].clear();
      std::fill(pending_[s].begin(), pending_[s].end(), 0);
    }
    for (int64_t p = 0; p < size_; ++p) {
      if (image_[p]) {
        for (int s = 0; s < 2; ++s) {
          pending_[s][p] = 1;
          queue_[s].push_back(p);
        }
      }
    }
    int idle = 0;
    int sub = 0;
    while (idle < 2) {
      candidates_.swap(queue_[sub]);
      queue_[sub].clear();
      deleted_.clear();
      const bool* table = tables_ + 256 * sub;
      for (const int64_t p : candidates_) {
        pending_[sub][p] = 0;
        if (!image_[p]) continue;
        unsigned code = 0;
        for (int k = 0; k < 8; ++k) code |= static_cast<unsigned>(image_[p + offsets_[k]]) << k;
        if (table[code]) deleted_.push_back(p);
      }
      for (const int64_t p : deleted_) image_[p] = 0;
      idle = deleted_.empty() ? idle + 1 : 0;
      for (const int64_t p : deleted_) {
        for (int k = 0; k < 8; ++k) {
          const int64_t q = p + offsets_[k];
          if (!image_[q]) continue;
          for (int s = 0; s < 2; ++s) {
            if (!pending_[s][q]) {
              pending_[s][q] = 1;
              queue_[s].push_back(q);
            }
          }
        }
      }
      sub = 1 - sub;
    }
  }

 private:
  int64_t row_, size_;
  const bool* tables_;
  int64_t offsets_[8];
  std::vector<uint8_t> image_;
  std::vector<uint8_t> pending_[2];
  std::vector<int64_t> queue_[2];
  std::vector<int64_t> candidates_, deleted_;
};

// Maximum matching of a bipartite graph (left vertices with CSR adjacency into right ones):
// Hopcroft-Karp, with an iterative depth-first search (augmenting paths can be long).
class Matcher {
 public:
  // left[u] names the adjacency list adj[start[left[u]] : start[left[u] + 1]] of vertex u.
  int64_t run(const std::vector<int64_t>& left, const std::vector<int64_t>& start,
              const std::vector<int32_t>& adj, int64_t n_right) {
    const int64_t n_left = static_cast<int64_t>(left.size());
    match_left_.assign(n_left, -1);
    match_right_.assign(n_right, -1);
    dist_.assign(n_left, 0);
    next_.resize(n_left);
    int64_t matched = 0;
    // greedy start: the first free GT pixel of every predicted pixel
    first_.resize(n_left);
    end_.resize(n_left);
    for (int64_t u = 0; u < n_left; ++u) {
      first_[u] = start[left[u]];
      end_[u] = start[left[u] + 1];
    }
    for (int64_t u = 0; u < n_left; ++u) {
      for (int64_t e = first_[u]; e < end_[u]; ++e) {
        if (match_right_[adj[e]] < 0) {
          match_left_[u] = adj[e];
          match_right_[adj[e]] = static_cast<int32_t>(u);
          ++matched;
          break;
        }
      }
    }
    while (layer(adj)) {
      next_ = first_;
      for (int64_t u = 0; u < n_left; ++u) {
        if (match_left_[u] < 0 && augment(u, adj)) ++matched;
      }
    }
    return matched;
  }

 private:
  static constexpr int32_t kFar = std::numeric_limits<int32_t>::max();

  // Breadth-first layers from the free left vertices, up to the first layer that reaches a
  // free right vertex (``shortest_``); true when there is one (an augmenting path exists).
  bool layer(const std::vector<int32_t>& adj) {
    queue_.clear();
    const int64_t n_left = static_cast<int64_t>(match_left_.size());
    for (int64_t u = 0; u < n_left; ++u) {
      if (match_left_[u] < 0) {
        dist_[u] = 0;
        queue_.push_back(u);
      } else {
        dist_[u] = kFar;
      }
    }
    shortest_ = kFar;
    for (size_t i = 0; i < queue_.size(); ++i) {
      const int64_t u = queue_[i];
      if (dist_[u] >= shortest_) break;  // the queue is in layer order
      for (int64_t e = first_[u]; e < end_[u]; ++e) {
        const int32_t w = match_right_[adj[e]];
        if (w < 0) {
          shortest_ = dist_[u];
        } else if (dist_[w] == kFar) {
          dist_[w] = dist_[u] + 1;
          queue_.push_back(w);
        }
      }
    }
    return shortest_ != kFar;
  }

  // One augmenting path from the free left vertex ``root`` along the layers, if any.
  bool augment(int64_t root, const std::vector<int32_t>& adj) {
    stack_.assign(1, root);
    while (!stack_.empty()) {
      const int64_t u = stack_.back();
      if (next_[u] == end_[u]) {  // dead end: never try it again in this phase
        dist_[u] = kFar;
        stack_.pop_back();
        if (!stack_.empty()) ++next_[stack_.back()];
        continue;
      }
      const int32_t v = adj[next_[u]];
      const int32_t w = match_right_[v];
      if (w < 0 && dist_[u] == shortest_) {  // free GT pixel: flip the path on the stack
        for (const int64_t x : stack_) {
          const int32_t y = adj[next_[x]];
          match_left_[x] = y;
          match_right_[y] = static_cast<int32_t>(x);
        }
        return true;
      }
      if (w >= 0 && dist_[u] < shortest_ && dist_[w] == dist_[u] + 1) {
        stack_.push_back(w);
      } else {
        ++next_[u];
      }
    }
    return false;
  }

  std::vector<int32_t> match_left_, match_right_, dist_;
  int32_t shortest_ = kFar;  // the layer of the shortest augmenting paths of this phase
  std::vector<int64_t> first_, end_, next_, queue_, stack_;
};

// [2, T] int64: (matched predicted pixels, predicted pixels) per threshold.
at::Tensor boundary_counts_cpu(const at::Tensor& prob, const at::Tensor& gt,
                               const at::Tensor& thresholds, const at::Tensor& offsets,
                               const at::Tensor& tables) {
  TORCH_CHECK(prob.dim() == 2 && prob.scalar_type() == at::kFloat,
              "boundary_counts: prob must be a float32 map [H, W]");
  TORCH_CHECK(gt.sizes() == prob.sizes() && gt.scalar_type() == at::kBool,
              "boundary_counts: gt must be a bool map of prob's shape");
  TORCH_CHECK(thresholds.dim() == 1 && thresholds.scalar_type() == at::kDouble,
              "boundary_counts: thresholds must be float64 [T]");
  TORCH_CHECK(offsets.dim() == 2 && offsets.size(1) == 2 && offsets.scalar_type() == at::kLong,
              "boundary_counts: offsets must be int64 [K, 2]");
  TORCH_CHECK(tables.sizes() == at::IntArrayRef({2, 256}) && tables.scalar_type() == at::kBool,
              "boundary_counts: tables must be bool [2, 256]");
  const auto p = prob.contiguous();
  const auto g = gt.contiguous();
  const auto t = thresholds.contiguous();
  const auto o = offsets.contiguous();
  const auto tab = tables.contiguous();
  const int64_t height = p.size(0), width = p.size(1), n_thresholds = t.size(0);
  const int64_t n_offsets = o.size(0);
  const float* prob_data = p.data_ptr<float>();
  const bool* gt_data = g.data_ptr<bool>();
  const double* level = t.data_ptr<double>();
  const int64_t* offset_data = o.data_ptr<int64_t>();
  const bool* table_data = tab.data_ptr<bool>();

  // GT pixel ids on a grid with a border of ``reach`` pixels, so every offset stays inside.
  int64_t reach = 0;
  for (int64_t k = 0; k < 2 * n_offsets; ++k) reach = std::max(reach, std::abs(offset_data[k]));
  const int64_t grid_row = width + 2 * reach;
  std::vector<int32_t> gt_id((height + 2 * reach) * grid_row, -1);
  int32_t n_gt = 0;
  for (int64_t r = 0; r < height; ++r) {
    for (int64_t c = 0; c < width; ++c) {
      if (gt_data[r * width + c]) gt_id[(r + reach) * grid_row + c + reach] = n_gt++;
    }
  }
  // The GT pixels within reach of every pixel (CSR over the pixels, row-major), once per
  // image: every threshold's graph is a selection of these lists.
  std::vector<int64_t> near_start(height * width + 1, 0);
  std::vector<int32_t> near_gt;
  if (n_gt > 0) {
    for (int64_t r = 0; r < height; ++r) {
      for (int64_t c = 0; c < width; ++c) {
        const int32_t* centre = gt_id.data() + (r + reach) * grid_row + c + reach;
        for (int64_t k = 0; k < n_offsets; ++k) {
          const int32_t id = centre[offset_data[2 * k] * grid_row + offset_data[2 * k + 1]];
          if (id >= 0) near_gt.push_back(id);
        }
        near_start[r * width + c + 1] = static_cast<int64_t>(near_gt.size());
      }
    }
  }

  auto out = at::zeros({2, n_thresholds}, at::kLong);
  int64_t* matched_out = out.data_ptr<int64_t>();
  int64_t* pred_out = matched_out + n_thresholds;
  // Thresholds are independent; each block of them reuses one set of buffers, and a map
  // equal to the previous threshold's (often the case) reuses its count.
  at::parallel_for(0, n_thresholds, 1, [&](int64_t begin, int64_t end) {
    Thinner thinner(height, width, table_data);
    Matcher matcher;
    std::vector<uint8_t> previous;
    int64_t previous_matched = 0;
    std::vector<int64_t> left;
    const int64_t row = thinner.row();
    for (int64_t k = begin; k < end; ++k) {
      auto& image = thinner.image();
      for (int64_t r = 0; r < height; ++r) {
        for (int64_t c = 0; c < width; ++c) {
          image[(r + 1) * row + c + 1] =
              static_cast<double>(prob_data[r * width + c]) >= level[k] ? 1 : 0;
        }
      }
      thinner.run();
      int64_t n_pred = 0;
      for (const uint8_t v : image) n_pred += v;
      pred_out[k] = n_pred;
      if (!previous.empty() && previous == image) {
        matched_out[k] = previous_matched;
        continue;
      }
      left.clear();
      for (int64_t r = 0; r < height; ++r) {
        for (int64_t c = 0; c < width; ++c) {
          const int64_t pixel = r * width + c;
          if (image[(r + 1) * row + c + 1] && near_start[pixel + 1] > near_start[pixel]) {
            left.push_back(pixel);
          }
        }
      }
      previous_matched = left.empty() ? 0 : matcher.run(left, near_start, near_gt, n_gt);
      matched_out[k] = previous_matched;
      previous = image;
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(atrc, CPU, m) { m.impl("boundary_counts", &boundary_counts_cpu); }

}  // namespace atrc
