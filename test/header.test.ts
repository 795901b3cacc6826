/**
 * The same elaborated design generates the hardware and the header software uses: a C
 * program built against <prefix>_params.h reads the quantizer's descriptor table through
 * oltron_descriptor_t and finds what the manifest says.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { quantizeToDir, synthLayers, parseLayerSpec } from "../src/flows/quantize.js";
import { writeDesign } from "../src/flows/design.js";
import { loadManifest } from "../src/image/manifest.js";
import { design, tmpDir } from "./helpers/cosim.js";

const READER = String.raw`
#include <stdio.h>
#include <string.h>
#include PARAMS
int main(int argc, char **argv) {
    static unsigned char mem[1 << 20];
    size_t nbytes = 0;
    char line[4096];
    if (argc < 2) return 2;
    FILE *f = fopen(argv[1], "r");
    if (!f) return 2;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        /* A word's last two hex digits are its byte 0 (little-endian in memory). */
        for (size_t i = 0; i < n; i += 2) {
            unsigned v; sscanf(line + n - 2 - i, "%2x", &v); mem[nbytes + i / 2] = (unsigned char)v;
        }
        nbytes += OLTRON_MEM_WORD_BITS / 8;
    }
    fclose(f);
    size_t stride = OLTRON_DESC_WORDS * OLTRON_MEM_WORD_BITS / 8;
    for (size_t off = 0; off + sizeof(oltron_descriptor_t) <= nbytes; off += stride) {
        oltron_descriptor_t d;
        memcpy(&d, mem + off, sizeof d);
        printf("%u %u %u %u %u %u %u %u %u\n", d.m, d.k_tiles, d.n_tiles, d.tile_channels, d.s, d.salient_type, d.act_base, d.out_base, d.flags);
        if (d.flags & OLTRON_DESC_FLAG_LAST) break;
    }
    return sizeof(oltron_descriptor_t) == 64 ? 0 : 3;
}
`;

describe("generated C header", () => {
  for (const cfg of [{ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 16 }, { rows: 8, cols: 8, flexLines: 2, memWordBits: 1024, bufferTokens: 128 }]) {
    it(`describes the descriptor table the quantizer writes (${JSON.stringify(cfg)})`, async () => {
      const d = design(cfg);
      const dir = tmpDir("hdr");
      const designDir = path.join(dir, "design");
      const imagesDir = path.join(dir, "images");
      const rtl = writeDesign(designDir, d);
      const header = Object.keys(rtl.header)[0];
      const layers = synthLayers(["qkv:20x40x12:fp8", "down:7x30x9:fp12:r0.1"].map((s, i) => parseLayerSpec(s, i)), 5);
      quantizeToDir(d, layers, imagesDir, { reference: false });
      fs.writeFileSync(path.join(dir, "reader.c"), READER);
      const exe = path.join(dir, "reader");
      const cc = await execa("gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", `-DPARAMS="${path.join(designDir, header)}"`, "-o", exe, path.join(dir, "reader.c")], { reject: false, all: true });
      expect(cc.exitCode, cc.all).toBe(0);
      const run = await execa(exe, [path.join(imagesDir, "descriptors.hex")], { reject: false });
      expect(run.exitCode).toBe(0);
      const rows = run.stdout.trim().split("\n").map((l) => l.split(" ").map(Number));
      const man = loadManifest(imagesDir);
      const expected: number[][] = [];
      for (const l of man.layers) {
        for (let c = 0; c < l.descriptors.count; c++) {
          const T = d.config.bufferTokens;
          const W = d.config.memWordBits;
          const m0 = c * T;
          // docs/formats.md section 7: chunk c starts c * ceil(T * stride / W) words into each block.
          expected.push([
            Math.min(T, l.m - m0), l.tiles, l.nTiles, l.tileChannels, l.s,
            { none: 0, fp8: 1, fp12: 2 }[l.salientType], l.act.offset + c * Math.ceil((T * d.act.strideBits) / W),
            l.out.offset + c * Math.ceil((T * d.out.strideBits) / W), 0,
          ]);
        }
      }
      expected[expected.length - 1][8] = 1;
      expect(rows).toEqual(expected);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
});
