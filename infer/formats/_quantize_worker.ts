/**
 * A worker of {@linkcode QuantizePool}: quantizes each piece of rows it is sent and sends the
 * packed rows back (their buffer moved, not copied).
 *
 * @module
 */

import { quantizeTensor } from "./quant_tensor.ts";
import type { QuantizedPiece, QuantizePiece } from "./quantize_pool.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<QuantizePiece>) => void) | null;
  postMessage(message: QuantizedPiece, transfer?: Transferable[]): void;
};

scope.onmessage = (e) => {
  const { id, type, dtype, cols, data } = e.data;
  try {
    const q = quantizeTensor({ dtype, shape: [data.length / cols, cols], data }, type);
    const bytes = q.data as Uint8Array;
    scope.postMessage({ id, data: bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (err) {
    scope.postMessage({ id, error: (err as Error).message });
  }
};
