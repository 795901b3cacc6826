/*
 * A minimal driver for an oltron accelerator, written against the generated
 * <prefix>_params.h: what a firmware engineer writes to run the accelerator.
 *
 * The bus is yours: give read32/write32 for the AXI4-Lite registers and wait_irq for the
 * interrupt line (a bare-metal port polls or sleeps; the Verilator host in the design folder
 * ticks the simulated clock). Build with -DOLTRON_PARAMS_H='"<prefix>_params.h"'.
 */
#ifndef OLTRON_DRIVER_H
#define OLTRON_DRIVER_H

#include <stdint.h>

typedef struct {
    uint32_t (*read32)(void *ctx, uint32_t offset);
    void (*write32)(void *ctx, uint32_t offset, uint32_t value);
    /* Returns 0 once the interrupt line is high, -1 if it stayed low for max_cycles. */
    int (*wait_irq)(void *ctx, uint64_t max_cycles);
    void *ctx;
} oltron_bus;

typedef struct {
    uint32_t status;       /* STATUS after the run */
    uint32_t error_code;   /* OLTRON_ERR_* (0 when done) */
    uint32_t error_desc;   /* descriptor the error belongs to (ERROR_INFO) */
    uint64_t cycles_total, cycles_busy, cycles_stall, words_read, words_written;
} oltron_result;

/* 0 when the registers identify the design the header was generated for, else -1. */
int oltron_probe(const oltron_bus *bus);
/*
 * Runs the descriptor table at desc_base (a byte address, word-aligned): 0 when the run ended
 * with STATUS.done, 1 when it ended with an error (res->error_code says which), -1 when it did
 * not end within max_cycles (the run is then aborted).
 */
int oltron_run(const oltron_bus *bus, uint32_t desc_base, uint64_t max_cycles, oltron_result *res);
/* Error names: oltron_error_name() in the generated header. */

/* Bounds the descriptors a run reads (DESC_LIMIT; 0 = no limit, the reset value): a table
 * whose last-descriptor flag is not among the first `limit` stops with DESC_LIMIT instead of
 * being read on into whatever follows it. Takes effect at the next start. */
void oltron_set_desc_limit(const oltron_bus *bus, uint32_t limit);

/*
 * Per-descriptor statistics of the last run (docs/architecture.md, "Cycle counts"):
 * oltron_stats_count is the number of descriptors whose last token row entered the array;
 * oltron_stats gives, for descriptor i below min(that count, OLTRON_STATS_DEPTH), CYCLES_TOTAL
 * and CYCLES_BUSY (bits 31:0) at that moment and returns 0, or returns -1 for any other i.
 * Differences between consecutive descriptors are their cycles and busy cycles.
 */
uint32_t oltron_stats_count(const oltron_bus *bus);
int oltron_stats(const oltron_bus *bus, uint32_t i, uint32_t *issue_end, uint32_t *busy);

#endif
