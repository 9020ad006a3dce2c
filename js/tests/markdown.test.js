// @vitest-environment jsdom
// Markdown rendering: sanitizing, highlighting, and the incremental streaming renderer
// (finished blocks parsed once, only the tail re-rendered).
import { describe, expect, it, vi } from 'vitest';
import {
  escapeHtml, highlightPending, renderFinished, renderMarkdown, sanitize, stats, StreamingMarkdown, UNLIT_CLASS,
} from '../src/markdown.js';

function dom(html) {
  const div = document.createElement('div');
  div.innerHTML = html;
  return div;
}

function everyAttribute(root) {
  return [...root.querySelectorAll('*')].flatMap((el) => [...el.attributes].map((a) => [el.tagName, a.name, a.value]));
}

describe('sanitizing', () => {
  it('test_markdown_links_get_rel_and_target', () => {
    const root = dom(renderMarkdown('see [docs](https://example.org/a) and <https://example.org/b>'));
    const links = [...root.querySelectorAll('a')];
    expect(links).toHaveLength(2);
    for (const a of links) {
      expect(a.getAttribute('rel')).toBe('noopener noreferrer');
      expect(a.getAttribute('target')).toBe('_blank');
    }
  });

  it('test_markdown_javascript_urls_are_stripped', () => {
    const root = dom(renderMarkdown('[x](javascript:alert(1)) [y](JaVaScRiPt:alert(2)) ![i](javascript:alert(3)) [z](  javascript:alert(4))'));
    for (const [, name, value] of everyAttribute(root)) {
      if (name === 'href' || name === 'src') expect(value.toLowerCase().replace(/\s/g, '')).not.toContain('javascript:');
    }
  });

  it('test_markdown_raw_html_is_shown_as_text', () => {
    const root = dom(renderMarkdown('before <script>window.__xss=1</script> <img src=x onerror="window.__xss=2"> after'));
    expect(root.querySelector('script')).toBe(null);
    expect(root.querySelector('img')).toBe(null);
    expect(root.textContent).toContain('<script>window.__xss=1</script>');
  });

  it('test_markdown_sanitize_strips_handlers_scripts_frames_forms_and_styles', () => {
    const dirty = [
      '<img src="x" onerror="alert(1)">',
      '<a href="javascript:alert(1)" onclick="alert(2)">x</a>',
      '<script>alert(1)</script>',
      '<iframe src="https://evil.example"></iframe>',
      '<object data="x"></object><embed src="x">',
      '<form action="https://evil.example"><input name="q"><button formaction="javascript:alert(1)">go</button></form>',
      '<style>body{display:none}</style>',
      '<div style="position:fixed;inset:0">overlay</div>',
      '<svg><script>alert(1)</script></svg>',
      '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
      '<details open ontoggle="alert(1)">d</details>',
      '<a href="data:text/html,<script>alert(1)</script>">d</a>',
      '<p id="lume-root" name="x">clobber</p>',
    ].join('');
    const root = dom(sanitize(dirty));
    for (const tag of ['script', 'iframe', 'object', 'embed', 'form', 'input', 'button', 'style', 'svg', 'math']) {
      expect(root.querySelector(tag), tag).toBe(null);
    }
    for (const [tag, name, value] of everyAttribute(root)) {
      expect(name.startsWith('on'), `${tag} ${name}`).toBe(false);
      expect(['style', 'id', 'name', 'formaction'].includes(name), `${tag} ${name}`).toBe(false);
      expect(value.toLowerCase()).not.toMatch(/^\s*(javascript|data:text\/html)/);
    }
  });

  it('test_markdown_target_is_only_kept_on_links', () => {
    const root = dom(sanitize('<p target="_top">x</p><a href="https://e.org" target="_self">y</a>'));
    expect(root.querySelector('p').hasAttribute('target')).toBe(false);
    expect(root.querySelector('a').getAttribute('target')).toBe('_blank');
  });

  it('test_markdown_escape_html_escapes_every_special_character', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});

describe('rendering', () => {
  it('test_markdown_code_blocks_are_highlighted_with_a_language_label', () => {
    const root = dom(renderMarkdown('```json\n{"f": "hi", "n": true}\n```\n'));
    const pre = root.querySelector('pre');
    expect(pre.getAttribute('data-lang')).toBe('json');
    expect(pre.querySelector('code').className).toContain('language-json');
    expect(pre.querySelector('.hljs-literal').textContent).toBe('true');
    expect(pre.querySelector('.hljs-string').textContent).toBe('"hi"');
  });

  it('test_markdown_python_is_coloured_with_every_string_form', () => {
    const source = '```py\n@dataclass\nclass A:\n    def f(self, x: int = 0x1F) -> str:\n'
      + '        """Doc."""\n        return f"{x + 1:>3} {{lit}}" + rb\'\\n\' + \'<b>\'  # no\n```\n';
    const pre = dom(renderMarkdown(source)).querySelector('pre');
    const all = (cls) => [...pre.querySelectorAll(`.hljs-${cls}`)].map((el) => el.textContent);
    expect(all('meta')).toEqual(['@dataclass']);
    expect(all('keyword')).toEqual(['class', 'def', 'return']);
    expect(all('title')).toEqual(['A', 'f']);
    expect(all('built_in')).toEqual(['self', 'int', 'str']);
    expect(all('number')).toEqual(['0x1F']);
    expect(all('string')).toEqual(['"""Doc."""', 'f"{x + 1:>3} {{lit}}"', "rb'\\n'", "'<b>'"]);
    expect(all('subst')).toEqual(['{x + 1:>3}']);
    expect(all('comment')).toEqual(['# no']);
    expect(pre.querySelector('b')).toBe(null); // code text stays text
  });

  it('test_markdown_unknown_language_is_escaped_plain_text', () => {
    const root = dom(renderMarkdown('```cobol\n<b>IDENTIFICATION</b>\n```\n'));
    expect(root.querySelector('pre').hasAttribute('data-lang')).toBe(false);
    expect(root.querySelector('b')).toBe(null);
    expect(root.querySelector('code').textContent).toBe('<b>IDENTIFICATION</b>');
  });

  it('test_markdown_tables_and_task_lists_render', () => {
    const root = dom(renderMarkdown('| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n'));
    expect(root.querySelectorAll('td')).toHaveLength(2);
    expect(root.querySelectorAll('.lume-task')).toHaveLength(2);
    expect(root.querySelectorAll('.lume-task--done')).toHaveLength(1);
    expect(root.querySelector('input')).toBe(null);
  });

  it('test_markdown_finished_render_is_cached_per_text', () => {
    const text = `# cached ${Math.random()}\n\nbody`;
    const before = stats.parses;
    const first = renderFinished(text);
    expect(renderFinished(text)).toBe(first);
    expect(stats.parses - before).toBe(1);
  });
});

describe('lazy highlighting', () => {
  const SOURCE = '# t\n\n```json\n{"f": "<b>hi</b>"}\n```\n\n```cobol\nMOVE A\n```\n\n```json\n{"a": [1, null]}\n```\n';

  it('test_markdown_lazy_render_leaves_known_code_plain_and_marked', () => {
    const root = dom(renderMarkdown(SOURCE, { lazy: true }));
    const codes = [...root.querySelectorAll('pre > code')];
    expect(codes.map((c) => c.classList.contains(UNLIT_CLASS))).toEqual([true, false, true]);
    expect(root.querySelector('[class^="hljs-"], [class*=" hljs-"]')).toBe(null);
    expect(codes[0].textContent).toBe('{"f": "<b>hi</b>"}');
    expect(root.querySelector('b')).toBe(null);
    expect(codes[0].parentElement.getAttribute('data-lang')).toBe('json');
  });

  it('test_markdown_highlight_pending_matches_the_eager_render', () => {
    const lazy = dom(renderMarkdown(SOURCE, { lazy: true }));
    expect(highlightPending(lazy)).toBe(2);
    expect(lazy.innerHTML).toBe(dom(renderMarkdown(SOURCE)).innerHTML);
    expect(highlightPending(lazy)).toBe(0); // done once
  });

  it('test_markdown_highlight_pending_keeps_payloads_in_code_as_text', () => {
    const payload = '</code></pre><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
    const root = dom(renderMarkdown(`\`\`\`javascript\n${payload}\n\`\`\`\n`, { lazy: true }));
    highlightPending(root);
    expect(root.querySelector('img, script')).toBe(null);
    expect(root.querySelector('code').textContent).toBe(payload);
    expect(everyAttribute(root).filter(([, name]) => name.startsWith('on'))).toEqual([]);
  });

  it('test_markdown_finished_cache_keeps_lazy_and_eager_apart', () => {
    const text = `\`\`\`json\n[${Math.random()}]\n\`\`\`\n`;
    const eager = renderFinished(text);
    const lazy = renderFinished(text, { lazy: true });
    expect(lazy).not.toBe(eager);
    expect(lazy).toContain(UNLIT_CLASS);
    expect(renderFinished(text, { lazy: true })).toBe(lazy);
  });
});

describe('streaming', () => {
  it('test_markdown_stream_parses_each_finished_block_once', () => {
    const render = vi.fn((s) => `[${s}]`);
    const md = new StreamingMarkdown(render);
    let out = md.update('Para one');
    expect(out).toEqual({ blocks: [], tail: '[Para one]', reset: false });
    out = md.update('Para one\n\nPara two');
    expect(out.blocks).toEqual(['[Para one\n\n]']);
    expect(out.tail).toBe('[Para two]');
    out = md.update('Para one\n\nPara two grows');
    expect(out.blocks).toEqual([]);
    expect(out.tail).toBe('[Para two grows]');
    const sources = render.mock.calls.map(([s]) => s);
    expect(sources.filter((s) => s.includes('Para one'))).toHaveLength(2); // once as tail, once as block
  });

  it('test_markdown_stream_does_not_cut_inside_a_code_fence', () => {
    const render = vi.fn((s) => s);
    const md = new StreamingMarkdown(render);
    const text = 'Intro\n\n```python\nx = 1\n\ny = 2\n';
    let out = md.update(text);
    expect(out.blocks).toEqual(['Intro\n\n']);
    expect(out.tail).toBe('```python\nx = 1\n\ny = 2\n');
    out = md.update(`${text}\`\`\`\n\nAfter`);
    expect(out.blocks).toEqual(['```python\nx = 1\n\ny = 2\n```\n\n']);
    expect(out.tail).toBe('After');
  });

  it('test_markdown_stream_handles_tilde_and_longer_fences', () => {
    const md = new StreamingMarkdown((s) => s);
    md.update('~~~~\na\n~~~\n\nstill code\n');
    expect(md.stableEnd).toBe(0);
    const out = md.update('~~~~\na\n~~~\n\nstill code\n~~~~\n\nout');
    expect(out.blocks).toHaveLength(1);
    expect(out.tail).toBe('out');
  });

  it('test_markdown_stream_scans_only_new_text', () => {
    const md = new StreamingMarkdown((s) => s);
    const spy = vi.spyOn(md, 'scanLine');
    let text = '';
    for (let i = 0; i < 200; i += 1) {
      text += `line ${i}\n`;
      md.update(text);
    }
    expect(spy).toHaveBeenCalledTimes(200);
  });

  it('test_markdown_stream_restarts_when_text_is_not_appended', () => {
    const md = new StreamingMarkdown((s) => s);
    md.update('one\n\ntwo');
    const out = md.update('other\n\nthing');
    expect(out.reset).toBe(true);
    expect(out.blocks).toEqual(['other\n\n']);
  });

  it('test_markdown_stream_blocks_plus_finish_match_whole_render_text', () => {
    const source = '# Title\n\nSome *text* with `code`.\n\n```js\nconst a = 1;\n\nconst b = 2;\n```\n\n| h | i |\n|---|---|\n| 1 | 2 |\n\n- a\n- b\n\nThe end.';
    const md = new StreamingMarkdown();
    const blocks = [];
    for (let i = 1; i <= source.length; i += 7) blocks.push(...md.update(source.slice(0, i)).blocks);
    blocks.push(...md.update(source).blocks);
    blocks.push(md.finish());
    const streamed = dom(blocks.join(''));
    const whole = dom(renderMarkdown(source));
    expect(streamed.textContent.replace(/\s+/g, ' ')).toBe(whole.textContent.replace(/\s+/g, ' '));
    expect(streamed.querySelectorAll('pre, table, h1, ul').length).toBe(whole.querySelectorAll('pre, table, h1, ul').length);
  });

  it('test_markdown_stream_of_long_reply_parses_a_bounded_amount', () => {
    const paragraph = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(4);
    const source = Array.from({ length: 150 }, (_, i) => `${paragraph}${i}`).join('\n\n');
    const md = new StreamingMarkdown();
    const before = stats.parsedChars;
    for (let i = 0; i < source.length; i += 200) md.update(source.slice(0, i + 200));
    const parsed = stats.parsedChars - before;
    // Whole-reply re-parsing would cost ~ n^2 / 2 / 200 chars (~9 million); we stay linear.
    expect(parsed).toBeLessThan(source.length * 3);
  });
});
