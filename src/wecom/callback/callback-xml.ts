/** The body is not the flat WeCom callback XML; the message says why, never echoing the body. */
export class CallbackXmlError extends Error {
  override name = 'CallbackXmlError';
}

const MAX_DEPTH = 16;
const NAME = /[A-Za-z_][A-Za-z0-9_.-]*/y;
const XML_DECLARATION =
  /<\?xml(?:\s+[A-Za-z]+\s*=\s*(?:"[A-Za-z0-9._-]*"|'[A-Za-z0-9._-]*'))*\s*\?>/y;
// Characters XML 1.0 forbids outright (tab, LF and CR are fine).
// eslint-disable-next-line no-control-regex
const ILLEGAL_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * Strict parser for WeCom's flat callback XML.
 *
 * Hand-written rather than fast-xml-parser: the accepted shape is tiny (one `<xml>` root,
 * attribute-free elements, text/CDATA), and a parser that has no code path for DTDs,
 * custom entities or processing instructions cannot be configured into XXE or entity
 * expansion by a later option change. It is a single linear pass with bounded nesting.
 *
 * Result: root children by name -> text. A child that itself has child elements (e.g.
 * `<SelectedItems><SelectedItem>..</SelectedItem>..</SelectedItems>`) keeps its raw inner XML
 * as its value, already checked for well-formedness. Raw rather than dotted keys because
 * repeated children (several SelectedItem, OptionId) would collide under dotted keys.
 */
export function parseCallbackXml(xml: string, maxBytes = 65536): Record<string, string> {
  if (typeof xml !== 'string') {
    throw new CallbackXmlError('Callback body is not a string');
  }
  // xml.length <= byte length, so the cheap check first.
  if (xml.length > maxBytes || Buffer.byteLength(xml, 'utf8') > maxBytes) {
    throw new CallbackXmlError(`Callback body exceeds ${maxBytes} bytes`);
  }
  if (ILLEGAL_CHAR.test(xml)) {
    throw new CallbackXmlError('Callback body contains characters not allowed in XML');
  }
  return new Parser(xml).document();
}

interface Element {
  name: string;
  /** Decoded text when the element has no child elements. */
  text: string;
  /** Raw source between the tags, used when the element has child elements. */
  inner: string;
  children: Element[];
}

class Parser {
  private pos = 0;

  constructor(private readonly src: string) {}

  document(): Record<string, string> {
    if (this.src.startsWith('\uFEFF')) this.pos = 1;
    if (this.src.startsWith('<?', this.pos)) {
      XML_DECLARATION.lastIndex = this.pos;
      if (!XML_DECLARATION.test(this.src)) {
        throw this.fail('Processing instructions are not allowed');
      }
      this.pos = XML_DECLARATION.lastIndex;
    }
    this.skipMisc();
    if (!this.src.startsWith('<', this.pos)) throw this.fail('Expected the <xml> root element');

    const root = this.element(1);
    if (root.name !== 'xml') throw this.fail(`Unexpected root element <${root.name}>`);
    this.skipMisc();
    if (this.pos !== this.src.length) throw this.fail('Content after the root element');

    const fields = new Map<string, string>();
    if (root.children.length === 0 && root.text.trim() !== '') {
      throw this.fail('Text directly inside <xml>');
    }
    for (const child of root.children) {
      if (fields.has(child.name)) throw this.fail(`Duplicate element <${child.name}>`);
      fields.set(child.name, child.children.length > 0 ? child.inner : child.text);
    }
    // fromEntries defines own properties, so a <__proto__> element cannot touch the prototype.
    return Object.fromEntries(fields);
  }

  /** At '<' of a start tag; returns after the matching end tag. */
  private element(depth: number): Element {
    if (depth > MAX_DEPTH) throw this.fail('Elements nested too deeply');
    this.pos++;
    const name = this.name();
    this.skipSpace();
    if (this.src.startsWith('/>', this.pos)) {
      this.pos += 2;
      return { name, text: '', inner: '', children: [] };
    }
    // Attributes included: WeCom callbacks never carry any.
    if (this.src[this.pos] !== '>') throw this.fail(`Malformed start tag <${name}>`);
    this.pos++;

    const innerStart = this.pos;
    const children: Element[] = [];
    let text = '';
    let hasText = false;
    for (;;) {
      const lt = this.src.indexOf('<', this.pos);
      if (lt === -1) throw this.fail(`Unclosed element <${name}>`);
      if (lt > this.pos) {
        const chunk = decodeText(this.src.slice(this.pos, lt));
        text += chunk;
        hasText ||= chunk.trim() !== '';
        this.pos = lt;
      }
      if (this.src.startsWith('</', this.pos)) {
        const innerEnd = this.pos;
        this.pos += 2;
        const closing = this.name();
        if (closing !== name) throw this.fail(`Mismatched end tag </${closing}> for <${name}>`);
        this.skipSpace();
        if (this.src[this.pos] !== '>') throw this.fail(`Malformed end tag </${name}>`);
        this.pos++;
        if (hasText && children.length > 0) throw this.fail(`Mixed content in <${name}>`);
        return { name, text, inner: this.src.slice(innerStart, innerEnd), children };
      }
      if (this.src.startsWith('<![CDATA[', this.pos)) {
        const end = this.src.indexOf(']]>', this.pos + 9);
        if (end === -1) throw this.fail('Unterminated CDATA section');
        const chunk = this.src.slice(this.pos + 9, end);
        text += chunk;
        hasText ||= chunk.length > 0;
        this.pos = end + 3;
      } else if (this.src.startsWith('<!--', this.pos)) {
        this.comment();
      } else if (this.src.startsWith('<!', this.pos)) {
        throw this.fail('DOCTYPE, ENTITY and other declarations are not allowed');
      } else if (this.src.startsWith('<?', this.pos)) {
        throw this.fail('Processing instructions are not allowed');
      } else {
        children.push(this.element(depth + 1));
      }
    }
  }

  private name(): string {
    NAME.lastIndex = this.pos;
    const match = NAME.exec(this.src);
    if (!match) throw this.fail('Expected an element name');
    this.pos = NAME.lastIndex;
    return match[0];
  }

  /** Whitespace and comments between top-level constructs; anything else is left for the caller. */
  private skipMisc(): void {
    for (;;) {
      this.skipSpace();
      if (this.src.startsWith('<!--', this.pos)) {
        this.comment();
      } else if (this.src.startsWith('<!', this.pos)) {
        throw this.fail('DOCTYPE, ENTITY and other declarations are not allowed');
      } else if (this.src.startsWith('<?', this.pos)) {
        throw this.fail('Processing instructions are not allowed');
      } else {
        return;
      }
    }
  }

  private comment(): void {
    const end = this.src.indexOf('-->', this.pos + 4);
    if (end === -1) throw this.fail('Unterminated comment');
    if (this.src.slice(this.pos + 4, end).includes('--')) throw this.fail('"--" inside a comment');
    this.pos = end + 3;
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && ' \t\r\n'.includes(this.src[this.pos] as string)) {
      this.pos++;
    }
  }

  private fail(message: string): CallbackXmlError {
    return new CallbackXmlError(`${message} (at offset ${this.pos})`);
  }
}

/** Character data: only the five predefined entities and numeric references, never expanded further. */
function decodeText(raw: string): string {
  if (raw.includes(']]>')) throw new CallbackXmlError('"]]>" outside a CDATA section');
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&<]{0,10});?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new CallbackXmlError('Unterminated entity reference');
    if (Object.hasOwn(PREDEFINED, ref)) return PREDEFINED[ref] as string;
    const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref);
    if (!numeric)
      throw new CallbackXmlError(`Entity reference &${ref.slice(0, 10)}; is not allowed`);
    const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]);
    if (!isXmlChar(code)) throw new CallbackXmlError('Character reference to an illegal character');
    return String.fromCodePoint(code);
  });
}

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}
