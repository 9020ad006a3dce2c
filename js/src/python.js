/**
 * Python for highlight.js, compact: keywords (soft ones included), literals, common
 * built-ins, comments, every string form (prefixes, triple quotes, f-strings with their
 * `{...}` fields coloured as code), numbers, decorators, and the names after `def` and
 * `class`. It costs the bundle about 1 KB, where highlight.js's own Python grammar costs
 * 3.4 KB of a 150 KB budget that had no room for it.
 */

const KEYWORDS = {
  keyword: 'and as assert async await break case class continue def del elif else except finally for from global if import in is lambda match nonlocal not or pass raise return try while with yield',
  literal: 'True False None Ellipsis NotImplemented',
  built_in: 'abs all any bool bytes callable cls dict dir enumerate filter float format getattr hasattr int isinstance iter len list map max min next object open print range repr reversed round self set setattr sorted str sum super tuple type zip',
};

export default function python(hljs) {
  const escapes = [hljs.BACKSLASH_ESCAPE];
  const fields = [...escapes, { begin: /\{\{|\}\}/ }, { scope: 'subst', begin: /\{/, end: /\}/, keywords: KEYWORDS }];
  const variants = [];
  for (const f of [true, false]) {
    for (const q of ['"""', "'''", '"', "'"]) {
      variants.push({
        begin: (f ? '\\b[rR]?[fF][rR]?' : '(?:\\b[rRbBuU]{1,2})?') + q,
        end: q,
        contains: f ? fields : escapes,
        illegal: q.length === 1 ? /\n/ : undefined,
      });
    }
  }
  return {
    name: 'Python',
    aliases: ['py'],
    keywords: KEYWORDS,
    contains: [
      hljs.HASH_COMMENT_MODE,
      { scope: 'string', variants },
      { scope: 'number', begin: /\b(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*(?:\.[\d_]*)?(?:[eE][+-]?\d+)?[jJ]?)/ },
      { scope: 'meta', begin: /^[ \t]*@[\w.]+/ },
      { match: [/\bdef|\bclass/, /\s+/, /[A-Za-z_]\w*/], scope: { 1: 'keyword', 3: 'title' } },
    ],
  };
}

/** JSON, compact (about 0.2 KB where highlight.js's grammar costs 0.7 KB): keys, strings,
 * numbers, true/false/null, and the comments JSONC allows. */
export function json(hljs) {
  return {
    name: 'JSON',
    aliases: ['jsonc'],
    keywords: { literal: 'true false null' },
    contains: [
      { scope: 'attr', begin: /"(?:\\.|[^\\"\n])*"(?=\s*:)/ },
      hljs.QUOTE_STRING_MODE,
      hljs.C_NUMBER_MODE,
      hljs.C_LINE_COMMENT_MODE,
      hljs.C_BLOCK_COMMENT_MODE,
    ],
  };
}
