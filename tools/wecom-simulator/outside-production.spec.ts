import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every .ts file under `dir`, specs included. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g;

/**
 * The simulator is a tool: production code never loads it. Only main.ts may, in sandbox mode
 * (a dynamic import), and specs may use it.
 */
describe('the WeCom simulator stays outside the production graph', () => {
  it('no file of src/ but main.ts and specs imports from tools/', () => {
    const offenders = sources('src')
      .filter((file) => file !== join('src', 'main.ts') && !file.endsWith('.spec.ts'))
      .flatMap((file) =>
        [...readFileSync(file, 'utf8').matchAll(IMPORT)]
          .map((m) => m[1]!)
          .filter((spec) => spec.startsWith('.') && /(^|\/)tools\//.test(spec))
          .map((spec) => `${relative('.', file)} imports ${spec}`),
      );
    expect(offenders).toEqual([]);
  });

  it('main.ts loads it only through a dynamic import', () => {
    const main = readFileSync(join('src', 'main.ts'), 'utf8');
    const staticImports = [...main.matchAll(/^import (?!type )[^;]*from '([^']+)'/gm)].map(
      (m) => m[1],
    );
    expect(staticImports.filter((spec) => spec!.includes('tools/'))).toEqual([]);
    expect(main).toContain("await import('../tools/wecom-simulator/sandbox.js')");
  });
});
