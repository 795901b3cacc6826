/**
 * Manifest fields no image checksum covers (scales, salient sets, lanes, addresses) are
 * trusted by the golden model and the comparison: the manifest's own checksum refuses any
 * edit of them, and a manifest forged together with its descriptor table (every checksum
 * recomputed) still cannot make a descriptor read or write outside its image's region.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { sha256 } from "../src/core/files.js";
import { readImage } from "../src/image/block.js";
import { loadManifest, manifestDigest, type Manifest } from "../src/image/manifest.js";
import { quantizeToDir, synthLayers, parseLayerSpec } from "../src/flows/quantize.js";
import { runGolden } from "../src/flows/golden.js";
import { design, tmpDir } from "./helpers/cosim.js";

const D = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 8 });

function images(tag: string): { dir: string; file: string; man: Manifest } {
  const dir = tmpDir(tag);
  quantizeToDir(D, synthLayers([parseLayerSpec("qkv:12x24x8:fp8", 0), parseLayerSpec("down:8x16x8:fp12", 1)], 5), dir, { log: () => {} });
  const file = path.join(dir, "manifest.json");
  return { dir, file, man: JSON.parse(fs.readFileSync(file, "utf8")) };
}

describe("trusted manifest fields", () => {
  it("a fresh manifest carries its checksum and loads; the golden model runs on it", () => {
    const { dir, man } = images("trust-ok");
    expect(man.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(() => runGolden(dir, loadManifest(dir), { write: false })).not.toThrow();
  });

  it("an edit of any field no other check covers is refused, naming the checksum", () => {
    const edits: [string, (m: Manifest) => void][] = [
      ["actScale", (m) => (m.layers[0].actScale = 123)],
      ["weightScales", (m) => (m.layers[0].weightScales[0] *= 2)],
      ["salientSet", (m) => (m.layers[0].salientSet = m.layers[0].salientSet.slice(1))],
      ["salientLanes", (m) => (m.layers[1].salientLanes += 1)],
      ["salientChannels", (m) => (m.layers[0].salientChannels += 1)],
    ];
    for (const [what, edit] of edits) {
      const { dir, file, man } = images(`trust-${what}`);
      edit(man);
      fs.writeFileSync(file, JSON.stringify(man));
      expect(() => loadManifest(dir), what).toThrow(/the manifest was edited after oltron wrote it \(manifestSha256 does not match its contents\)/);
    }
    const { dir, file, man } = images("trust-old");
    delete (man as Partial<Manifest>).manifestSha256;
    fs.writeFileSync(file, JSON.stringify(man));
    expect(() => loadManifest(dir)).toThrow(/no manifestSha256: written by an oltron older than 0\.3\.1 \(or edited\); quantize again/);
  });

  it("a descriptor forged with its manifest (all checksums recomputed) to read weights beyond their image is refused", () => {
    const { dir, file, man } = images("trust-forged");
    const t = man.descriptorTable;
    const table = readImage(dir, t.file, t.sha256, man.memWordBits, t.words);
    const l = man.layers[0];
    // Field 9 of every descriptor of layer 0 is the weight block stride: double it in both.
    const stride = l.wgt.blockStride * 2;
    for (let c = 0; c < l.descriptors.count; c++) table.put(((l.descriptors.first + c) * man.design.descriptorWords * man.memWordBits) / 4 + 8 * 9, 8, stride);
    const text = table.toHex();
    fs.writeFileSync(path.join(dir, t.file), text);
    t.sha256 = sha256(text);
    l.wgt.blockStride = stride;
    man.manifestSha256 = manifestDigest(man);
    fs.writeFileSync(file, JSON.stringify(man));
    expect(() => loadManifest(dir)).toThrow(new RegExp(`layer ${l.name} descriptor ${l.descriptors.first} weight reads: words \\d+\\.\\.\\d+, outside its weight image \\(words ${l.wgt.offset}\\.\\.${l.wgt.offset + l.wgt.words - 1}\\)`));
  });
});
