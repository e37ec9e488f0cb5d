// The documentation documents this repository: every relative link in README.md
// and docs/*.md leads to a file of the repository (and to a heading, when it
// names one), nothing points outside it, and every variable the hub reads is in
// docs/configuration.md.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KNOWN_VARS } from '../apps/hub/src/config/config.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The text outside fenced code blocks: links and headings only count there. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** Link targets: inline `[text](target)`, images, and reference definitions `[id]: target`. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
  const references = [...text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1]);
  return [...inline, ...references];
}

/** GitHub's anchors for the headings of a Markdown file. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    result.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return result;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

describe('documentation', () => {
  it('has README.md and the docs', () => {
    expect(DOCS).toEqual(expect.arrayContaining(['README.md', 'docs/api.md', 'docs/configuration.md', 'docs/operations.md']));
  });

  describe.each(DOCS)('%s', (doc) => {
    const markdown = read(doc);

    it('mentions nothing outside the repository (no ../shared)', () => {
      expect(markdown).not.toMatch(/\.\.\/shared|shared\/spec/);
    });

    it('links only to files of the repository, and to headings that exist', () => {
      const broken: string[] = [];
      for (const target of linkTargets(markdown)) {
        if (isExternal(target)) continue;
        const [file, anchor] = target.split('#', 2) as [string, string | undefined];
        if (file.startsWith('/')) {
          broken.push(`${target}: absolute path; link relative to ${doc}`);
          continue;
        }
        const resolved = file === '' ? path.join(ROOT, doc) : path.resolve(ROOT, path.dirname(doc), decodeURI(file));
        const relative = path.relative(ROOT, resolved);
        if (relative.startsWith('..') || path.isAbsolute(relative)) {
          broken.push(`${target}: outside the repository`);
        } else if (!existsSync(resolved)) {
          broken.push(`${target}: ${relative} does not exist`);
        } else if (anchor && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${target}: no heading #${anchor} in ${relative}`);
        }
      }
      expect(broken).toEqual([]);
    });
  });

  it('documents every variable the hub reads in docs/configuration.md', () => {
    const configuration = read('docs/configuration.md');
    expect(KNOWN_VARS.length).toBeGreaterThan(10);
    expect(KNOWN_VARS.filter((name) => !configuration.includes(`\`${name}\``))).toEqual([]);
  });
});
