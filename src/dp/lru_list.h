// An intrusive least-recently-used list over a fixed array of nodes, linked
// by index: the FDB's and the tunnels' learning tables (dp/fdb.h,
// io/tunnel_fdb.h) keep their dynamic entries in one, oldest at the head.
// A node type has `uint32_t prev, next`; kNil ends the list. No allocation:
// the caller owns the array.
//
// Thread-safety: that of the table that holds it (the datapath thread).
#pragma once

#include <cstdint>
#include <vector>

namespace kvnet::dp {

class LruList {
 public:
  static constexpr uint32_t kNil = UINT32_MAX;

  uint32_t head() const { return head_; }  // least recently seen, kNil: empty
  uint32_t tail() const { return tail_; }  // most recently seen

  template <typename Node>
  void unlink(std::vector<Node>& nodes, uint32_t n) {
    Node& x = nodes[n];
    if (x.prev != kNil) nodes[x.prev].next = x.next;
    else head_ = x.next;
    if (x.next != kNil) nodes[x.next].prev = x.prev;
    else tail_ = x.prev;
    x.prev = x.next = kNil;
  }

  template <typename Node>
  void append(std::vector<Node>& nodes, uint32_t n) {
    Node& x = nodes[n];
    x.prev = tail_;
    x.next = kNil;
    if (tail_ != kNil) nodes[tail_].next = n;
    else head_ = n;
    tail_ = n;
  }

  // Moves n to the tail (seen now).
  template <typename Node>
  void touch(std::vector<Node>& nodes, uint32_t n) {
    if (n == tail_) return;
    unlink(nodes, n);
    append(nodes, n);
  }

  void clear() { head_ = tail_ = kNil; }

 private:
  uint32_t head_ = kNil, tail_ = kNil;
};

}  // namespace kvnet::dp
