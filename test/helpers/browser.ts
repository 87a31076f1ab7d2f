// Where a Chromium-based browser is, for the tests and scripts that drive
// one headless (test/helpers/inspector.ts): Chromium, Google Chrome or
// Microsoft Edge, wherever each system puts them.

import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Set to a browser's executable to use that one. */
export const BROWSER_VARIABLE = 'CHROME_PATH';

/** Commands looked for on the PATH (Linux, and any system that has them there). */
const COMMANDS = ['chromium-headless-shell', 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'microsoft-edge'];

/** Where the installers put them: macOS's applications, and Windows'
 * program folders (the machine's, then the user's own). */
function installedPaths(): string[] {
  if (process.platform === 'darwin') {
    return ['Google Chrome.app/Contents/MacOS/Google Chrome', 'Chromium.app/Contents/MacOS/Chromium', 'Microsoft Edge.app/Contents/MacOS/Microsoft Edge'].map(
      (app) => `/Applications/${app}`,
    );
  }
  if (process.platform === 'win32') {
    const folders = [process.env.ProgramFiles, process.env['ProgramFiles(x86)'], process.env.LOCALAPPDATA].filter((folder) => folder !== undefined);
    return folders.flatMap((folder) => [
      join(folder, 'Google', 'Chrome', 'Application', 'chrome.exe'),
      join(folder, 'Microsoft', 'Edge', 'Application', 'msedge.exe'),
    ]);
  }
  return [];
}

/** An executable called `name` in a folder of the PATH, if any. */
function onPath(name: string): string | undefined {
  const suffixes = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const folder of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const suffix of suffixes) {
      const path = join(folder, name + suffix);
      if (existsSync(path)) return path;
    }
  }
  return undefined;
}

/** The browser's executable: $CHROME_PATH if set, else the first one
 * found; undefined if there is none. */
export function findBrowser(): string | undefined {
  const chosen = process.env[BROWSER_VARIABLE];
  if (chosen) return chosen;
  for (const name of COMMANDS) {
    const path = onPath(name);
    if (path !== undefined) return path;
  }
  return installedPaths().find((path) => existsSync(path));
}

/** Why a test that drives a browser is skipped here, or false. */
export function noBrowser(): string | false {
  const browser = findBrowser();
  if (browser === undefined) {
    return `no Chromium, Chrome or Edge is installed where this system keeps them (Debian: apt-get install chromium-headless-shell; or set ${BROWSER_VARIABLE} to one)`;
  }
  return !existsSync(browser) && `${BROWSER_VARIABLE} names ${browser}, and there is no such file`;
}
