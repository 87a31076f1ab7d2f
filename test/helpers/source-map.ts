// Reading a source map (version 3), enough to map lines both ways between
// tsx's generated JavaScript and the TypeScript it came from.

interface RawSourceMap {
  sources: string[];
  mappings: string;
}

/** One mapping: a generated position and the original one (0-based). */
export interface Mapping {
  generatedLine: number;
  generatedColumn: number;
  source: string;
  originalLine: number;
  originalColumn: number;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decodes a `data:application/json;base64,...` source map URL. */
export function readInlineSourceMap(url: string): Mapping[] {
  const json = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64').toString('utf8');
  return decodeMappings(JSON.parse(json) as RawSourceMap);
}

function decodeMappings(map: RawSourceMap): Mapping[] {
  const mappings: Mapping[] = [];
  let source = 0;
  let originalLine = 0;
  let originalColumn = 0;
  map.mappings.split(';').forEach((line, generatedLine) => {
    let generatedColumn = 0;
    for (const segment of line.split(',')) {
      if (segment === '') continue;
      const fields = decodeVlq(segment);
      generatedColumn += fields[0]!;
      if (fields.length < 4) continue;
      source += fields[1]!;
      originalLine += fields[2]!;
      originalColumn += fields[3]!;
      mappings.push({ generatedLine, generatedColumn, source: map.sources[source]!, originalLine, originalColumn });
    }
  });
  return mappings;
}

/** Base64 VLQ: 5 bits a digit, a continuation bit, the sign in the lowest bit. */
function decodeVlq(segment: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}
