import { BandwidthProbe, STREAMS, sumModule } from "../bench/_bandwidth.ts";
import { median, medianSpeed } from "../bench/_timing.ts";

Deno.test("bench helpers", async (t) => {
  await t.step("the SIMD sums equal a plain sum, read as 1, 2 or 4 streams", async () => {
    const pages = 2;
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const f = new Float32Array(memory.buffer);
    for (let i = 0; i < f.length; i++) f[i] = i % 7;
    const { instance } = await WebAssembly.instantiate(await sumModule(pages), { env: { memory } });
    for (const [start, end] of [[0, f.byteLength], [512, 512 + 4096]]) {
      let want = 0;
      for (let i = start / 4; i < end / 4; i++) want += f[i];
      for (const n of STREAMS) {
        const got = (instance.exports[`sum${n}`] as (s: number, e: number) => number)(start, end);
        if (got !== want) throw new Error(`sum${n}(${start}, ${end}) = ${got}, want ${want}`);
      }
    }
  });

  await t.step("the probe measures each thread count (its workers check their sums)", async () => {
    const probe = await BandwidthProbe.open([1, 2], 2 ** 20);
    try {
      await probe.round();
      const bw = probe.take();
      if (bw.map((b) => b.threads).join() !== "1,2" || bw.some((b) => !(b.best > 0 && b.median <= b.best))) {
        throw new Error(JSON.stringify(bw));
      }
    } finally {
      probe.close();
    }
  });

  await t.step("medians", () => {
    if (median([3, 1, 2]) !== 2 || median([4, 1, 3, 2]) !== 2.5) throw new Error("median");
    const s = medianSpeed([{ prefill: 1, decode: 30 }, { prefill: 3, decode: 10 }, { prefill: 2, decode: 20 }]);
    if (s.prefill !== 2 || s.decode !== 20) throw new Error(JSON.stringify(s));
  });
});
