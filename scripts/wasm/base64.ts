/**
 * Base64 of bytes (the standard alphabet, padded), for embedding a binary in a module.
 *
 * @param bytes the bytes
 * @returns their base64
 */
export function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
