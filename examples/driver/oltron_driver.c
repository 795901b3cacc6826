/* See oltron_driver.h. Everything here comes from the generated header: no magic numbers. */
#include "oltron_driver.h"
#include OLTRON_PARAMS_H

static uint64_t read64(const oltron_bus *bus, uint32_t lo, uint32_t hi) {
    uint64_t l = bus->read32(bus->ctx, lo);
    return l | ((uint64_t)bus->read32(bus->ctx, hi) << 32);
}

int oltron_probe(const oltron_bus *bus) {
    if (bus->read32(bus->ctx, OLTRON_REG_ID) != OLTRON_ID_MAGIC) return -1;
    uint32_t geometry = bus->read32(bus->ctx, OLTRON_REG_GEOMETRY);
    if ((geometry & 0xffffu) != OLTRON_ROWS || (geometry >> 16) != OLTRON_COLS) return -1;
    if ((bus->read32(bus->ctx, OLTRON_REG_FEATURES) & 0xffffu) != OLTRON_FLEX_LINES) return -1;
    return 0;
}

int oltron_run(const oltron_bus *bus, uint32_t desc_base, uint64_t max_cycles, oltron_result *res) {
    if (bus->read32(bus->ctx, OLTRON_REG_STATUS) & OLTRON_STATUS_BUSY) return -1;
    bus->write32(bus->ctx, OLTRON_REG_IRQ_STATUS, OLTRON_IRQ_DONE | OLTRON_IRQ_ERROR); /* clear stale */
    bus->write32(bus->ctx, OLTRON_REG_DESC_BASE, desc_base);
    bus->write32(bus->ctx, OLTRON_REG_IRQ_ENABLE, OLTRON_IRQ_DONE | OLTRON_IRQ_ERROR);
    bus->write32(bus->ctx, OLTRON_REG_CTRL, OLTRON_CTRL_START);
    int ended = bus->wait_irq(bus->ctx, max_cycles) == 0;
    if (!ended) {
        bus->write32(bus->ctx, OLTRON_REG_CTRL, OLTRON_CTRL_ABORT);
        bus->wait_irq(bus->ctx, max_cycles);
    }
    bus->write32(bus->ctx, OLTRON_REG_IRQ_STATUS, OLTRON_IRQ_DONE | OLTRON_IRQ_ERROR);
    res->status = bus->read32(bus->ctx, OLTRON_REG_STATUS);
    res->error_code = OLTRON_STATUS_CODE(res->status);
    res->error_desc = bus->read32(bus->ctx, OLTRON_REG_ERROR_INFO);
    res->cycles_total = read64(bus, OLTRON_REG_CYCLES_TOTAL_LO, OLTRON_REG_CYCLES_TOTAL_HI);
    res->cycles_busy = read64(bus, OLTRON_REG_CYCLES_BUSY_LO, OLTRON_REG_CYCLES_BUSY_HI);
    res->cycles_stall = read64(bus, OLTRON_REG_CYCLES_STALL_LO, OLTRON_REG_CYCLES_STALL_HI);
    res->words_read = read64(bus, OLTRON_REG_WORDS_READ_LO, OLTRON_REG_WORDS_READ_HI);
    res->words_written = read64(bus, OLTRON_REG_WORDS_WRITTEN_LO, OLTRON_REG_WORDS_WRITTEN_HI);
    if (!ended) return -1;
    return (res->status & OLTRON_STATUS_DONE) ? 0 : 1;
}

void oltron_set_desc_limit(const oltron_bus *bus, uint32_t limit) {
    bus->write32(bus->ctx, OLTRON_REG_DESC_LIMIT, limit);
}

uint32_t oltron_stats_count(const oltron_bus *bus) {
    return bus->read32(bus->ctx, OLTRON_REG_STATS_COUNT);
}

int oltron_stats(const oltron_bus *bus, uint32_t i, uint32_t *issue_end, uint32_t *busy) {
    if (i >= OLTRON_STATS_DEPTH || i >= oltron_stats_count(bus)) return -1;
    bus->write32(bus->ctx, OLTRON_REG_STATS_INDEX, i);
    *issue_end = bus->read32(bus->ctx, OLTRON_REG_STATS_ISSUE_END);
    *busy = bus->read32(bus->ctx, OLTRON_REG_STATS_BUSY);
    return 0;
}
