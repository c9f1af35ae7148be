/**
 * The plain line reader the floor programs share: a file read in 256 KiB blocks, decoded as a
 * stream and split on newlines, with no checks beyond skipping empty lines.
 *
 * @module
 */

/**
 * Call `onLine` for every non-empty line of a file, and `afterBlock` after each block's lines.
 *
 * @param path the file
 * @param onLine called with each line (without its newline)
 * @param afterBlock awaited after each block (e.g. to write what the lines produced)
 * @returns when the file is read and closed
 */
export async function forEachLine(
  path: string,
  onLine: (line: string) => void,
  afterBlock?: () => Promise<void>,
): Promise<void> {
  const file = await Deno.open(path, { read: true });
  const decoder = new TextDecoder();
  const buf = new Uint8Array(1 << 18);
  let carry = "";
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    const lines = (carry + decoder.decode(buf.subarray(0, n), { stream: true })).split("\n");
    carry = lines.pop()!;
    for (const line of lines) if (line !== "") onLine(line);
    if (afterBlock) await afterBlock();
  }
  if (carry.trim() !== "") onLine(carry);
  file.close();
}
