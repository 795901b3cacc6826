// oltron's Verilator main for waveform builds (src/sim/build.ts). It clocks the --timing
// testbench like `verilator --binary` does, and keeps the waveform to the cycle window
// +trace_from=<n> .. +trace_to=<n> itself, because Verilator ignores $dumpoff. Cycle n of the
// testbench (its `cycle` counter, counted from the end of reset) is the posedge at
// 25 + 10 n ns: clk toggles every 5 ns and reset ends after the third posedge.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include "verilated.h"
#include "Vtb.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
typedef VerilatedFstC Waveform;
#else
#include "verilated_vcd_c.h"
typedef VerilatedVcdC Waveform;
#endif

static std::string plusarg(VerilatedContext* ctx, const char* key) {
    const std::string want = std::string(key) + "=";
    const char* m = ctx->commandArgsPlusMatch(want.c_str());
    if (!m || !*m) return "";
    return std::string(m).substr(want.size() + 1);  // drop "+key="
}

int main(int argc, char** argv) {
    const std::unique_ptr<VerilatedContext> ctx{new VerilatedContext};
    ctx->commandArgs(argc, argv);
    ctx->traceEverOn(true);
    const std::unique_ptr<Vtb> top{new Vtb{ctx.get(), ""}};
    const std::string file = plusarg(ctx.get(), "trace");
    const std::string fromArg = plusarg(ctx.get(), "trace_from");
    const std::string toArg = plusarg(ctx.get(), "trace_to");
    // Simulation time counts in units of the time precision; the testbench's unit is 1 ns.
    uint64_t ns = 1;
    for (int e = ctx->timeunit(); e > ctx->timeprecision(); --e) ns *= 10;
    const uint64_t from = fromArg.empty() ? 0 : std::strtoull(fromArg.c_str(), nullptr, 10);
    const uint64_t start = (25 + 10 * from) * ns - ns;  // just before the posedge of cycle `from`
    const uint64_t stop = toArg.empty() ? UINT64_MAX : (25 + 10 * (std::strtoull(toArg.c_str(), nullptr, 10) + 1)) * ns - ns;
    std::unique_ptr<Waveform> wave;
    if (!file.empty()) {
        wave.reset(new Waveform);
        top->trace(wave.get(), 99);
    }
    bool open = false, closed = false;
    while (!ctx->gotFinish()) {
        top->eval();
        const uint64_t t = ctx->time();
        if (wave && !open && !closed && t >= start) {
            wave->open(file.c_str());
            open = true;
        }
        if (open && t > stop) {
            wave->close();
            open = false;
            closed = true;
        }
        if (open) wave->dump(t);
        if (!top->eventsPending()) break;
        ctx->time(top->nextTimeSlot());
    }
    if (open) wave->close();
    top->final();
    return 0;
}
