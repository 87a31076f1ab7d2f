// Loaded with `--import` into a program under test: when it exits, it says
// on stderr how much memory it held at its peak.

import { writeSync } from 'node:fs';

process.on('exit', () => {
  writeSync(2, `peak RSS: ${Math.round(process.resourceUsage().maxRSS / 1024)} MB\n`);
});
