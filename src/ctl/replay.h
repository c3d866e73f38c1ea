// `kvnet replay`: runs a topology's pcap inputs through the pipeline.
//
// Every pcap port's `rx` file is read; frames from all files are merged by
// capture timestamp (ties: the order of the ports in the file) and each runs
// through the pipeline with the pipeline's clock set to its timestamp, so
// learning and aging are reproducible. What a port sends goes to its `tx`
// file with the timestamp of the input frame it came from. Output files use
// nanosecond resolution if any input does, microseconds otherwise.
//
// Every input file is checked completely before the first frame moves.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/topology.h"
#include "dp/counters.h"
#include "dp/datapath.h"

namespace kvnet::ctl {

struct PortReport {
  std::string bridge;
  std::string port;
  std::string type;
  dp::PortCounters counters;
};

struct FdbReportEntry {
  std::string bridge;
  uint16_t vlan;
  std::string mac;
  std::string port;
  bool is_static;
};

struct ReplayResult {
  uint64_t frames = 0;   // input frames replayed
  uint64_t files = 0;    // input files read
  double seconds = 0;    // wall time of the frame loop
  std::vector<PortReport> ports;
  bool has_fdb = false;  // the FDB was collected (`fdb` below)
  std::vector<FdbReportEntry> fdb;
};

using Progress = std::function<void(uint64_t frames_done, uint64_t frames_total)>;

// Replays into pcap tx files. With `collect_fdb`, the result lists every FDB
// entry afterwards (costly with millions of stations: only when asked).
Result<ReplayResult> replay(const Topology& t, const Progress& progress = nullptr, bool collect_fdb = true);

// Feeds the topology's rx files into an already built datapath (used by
// `trace --warm` to learn MACs first). Returns the number of frames.
Result<uint64_t> feed_rx(const Topology& t, dp::Datapath& dp, const Progress& progress = nullptr);

std::vector<PortReport> port_reports(const dp::Datapath& dp);
std::vector<FdbReportEntry> fdb_report(dp::Datapath& dp);

}  // namespace kvnet::ctl
