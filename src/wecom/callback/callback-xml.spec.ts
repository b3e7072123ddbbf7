import { CallbackXmlError, parseCallbackXml } from './callback-xml.js';

const sut = parseCallbackXml;

function rejects(xml: string, maxBytes?: number): void {
  expect(() => sut(xml, maxBytes)).toThrow(CallbackXmlError);
}

describe(parseCallbackXml.name, () => {
  describe('accepts', () => {
    it('the encrypted envelope from the callback docs', () => {
      expect(
        sut(
          '<xml><ToUserName><![CDATA[ww1234567890]]></ToUserName>' +
            '<AgentID><![CDATA[1000002]]></AgentID>' +
            '<Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt>' +
            '</xml>',
        ),
      ).toEqual({
        ToUserName: 'ww1234567890',
        AgentID: '1000002',
        Encrypt: expect.stringMatching(/^RypEvHKD8QQKFhvQ.*7Q==$/),
      });
    });

    it('a template card event with plain and CDATA fields', () => {
      const xml = `<?xml version="1.0" encoding="UTF-8"?>
<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[FromUser]]></FromUserName>
  <CreateTime>123456789</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[template_card_event]]></Event>
  <EventKey><![CDATA[key111]]></EventKey>
  <TaskId><![CDATA[taskid111]]></TaskId>
  <CardType><![CDATA[button_interaction]]></CardType>
  <ResponseCode><![CDATA[ResponseCode]]></ResponseCode>
  <AgentID>1</AgentID>
  <MsgId>7093221374021103629</MsgId>
</xml>
`;
      expect(sut(xml)).toEqual({
        ToUserName: 'toUser',
        FromUserName: 'FromUser',
        CreateTime: '123456789',
        MsgType: 'event',
        Event: 'template_card_event',
        EventKey: 'key111',
        TaskId: 'taskid111',
        CardType: 'button_interaction',
        ResponseCode: 'ResponseCode',
        AgentID: '1',
        MsgId: '7093221374021103629',
      });
    });

    it('nested elements, keeping their raw inner XML as the value', () => {
      const selected =
        '<SelectedItem><QuestionKey><![CDATA[QuestionKey1]]></QuestionKey>' +
        '<OptionIds><OptionId><![CDATA[OptionId1]]></OptionId><OptionId><![CDATA[OptionId2]]></OptionId></OptionIds>' +
        '</SelectedItem><SelectedItem><QuestionKey><![CDATA[QuestionKey2]]></QuestionKey></SelectedItem>';
      const fields = sut(
        `<xml><Event><![CDATA[template_card_event]]></Event><SelectedItems>${selected}</SelectedItems><TaskId>t1</TaskId></xml>`,
      );
      expect(fields).toEqual({
        Event: 'template_card_event',
        SelectedItems: selected,
        TaskId: 't1',
      });
    });

    it('an empty, self-closed or whitespace-only element as text', () => {
      expect(sut('<xml><A></A><B/><C />\n<D> </D></xml>')).toEqual({ A: '', B: '', C: '', D: ' ' });
    });

    it('an empty root', () => {
      expect(sut('<xml></xml>')).toEqual({});
      expect(sut('<xml/>')).toEqual({});
    });

    it('a byte-order mark, comments and whitespace around the root', () => {
      expect(
        sut('\uFEFF<?xml version="1.0"?>\n<!-- hi -->\n<xml><!-- c --><A>1</A></xml>\n'),
      ).toEqual({ A: '1' });
    });

    it('whitespace inside end tags', () => {
      expect(sut('<xml><A>1</A ></xml >')).toEqual({ A: '1' });
    });
  });

  describe('decodes text', () => {
    it.each([
      [
        'the five predefined entities',
        '&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos;',
        `<b> & "q" 'a'`,
      ],
      ['&lt; in plain text', 'a &lt; b', 'a < b'],
      ['decimal and hex character references', '&#20013;&#x6587;&#x1F680;', '中文🚀'],
      ['an escaped entity, without expanding twice', '&amp;lt;', '&lt;'],
      ['raw UTF-8', '面试 ✓', '面试 ✓'],
      ['a lone ] and ]] in text', 'a]b]]c', 'a]b]]c'],
    ])('%s', (_label, raw, expected) => {
      expect(sut(`<xml><Content>${raw}</Content></xml>`).Content).toBe(expected);
    });

    it.each([
      ['"]]" inside CDATA', '<![CDATA[a]]b]]>', 'a]]b'],
      ['"]" right before the end', '<![CDATA[x]]]>', 'x]'],
      ['"]]>" split across two CDATA sections', '<![CDATA[a]]]]><![CDATA[>b]]>', 'a]]>b'],
      ['an empty CDATA section', '<![CDATA[]]>', ''],
      [
        'markup and entities inside CDATA, literally',
        '<![CDATA[<b>&lt;&xxe;</b>]]>',
        '<b>&lt;&xxe;</b>',
      ],
      [
        'a DOCTYPE inside CDATA, which is data rather than markup',
        '<![CDATA[<!DOCTYPE x [<!ENTITY y "z">]>]]>',
        '<!DOCTYPE x [<!ENTITY y "z">]>',
      ],
      ['CDATA mixed with text', 'a&amp;<![CDATA[&amp;]]>b', 'a&&amp;b'],
      ['newlines inside CDATA', '<![CDATA[line 1\nline 2]]>', 'line 1\nline 2'],
    ])('%s', (_label, raw, expected) => {
      expect(sut(`<xml><Content>${raw}</Content></xml>`).Content).toBe(expected);
    });
  });

  describe('rejects', () => {
    const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><Content>&lol3;</Content></xml>`;

    it.each([
      ['billion laughs', billionLaughs],
      [
        'XXE with a SYSTEM entity',
        '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><A>&xxe;</A></xml>',
      ],
      [
        'XXE with a parameter entity',
        '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://evil/x.dtd"> %p;]><xml/>',
      ],
      ['an external DTD', '<!DOCTYPE xml SYSTEM "http://evil/x.dtd"><xml><A>1</A></xml>'],
      ['a lower-case doctype', '<!doctype xml><xml/>'],
      ['a DOCTYPE inside the root', '<xml><!DOCTYPE x><A>1</A></xml>'],
      ['an ENTITY declaration inside an element', '<xml><A><!ENTITY x "y"></A></xml>'],
      ['a custom entity reference without a DTD', '<xml><A>&xxe;</A></xml>'],
      ['an HTML entity', '<xml><A>&nbsp;</A></xml>'],
      ['a parameter-entity-like reference', '<xml><A>&%p;</A></xml>'],
      ['a bare ampersand', '<xml><A>a & b</A></xml>'],
      ['an unterminated entity reference', '<xml><A>&lt</A></xml>'],
      ['a reference to NUL', '<xml><A>&#0;</A></xml>'],
      ['a reference to a surrogate', '<xml><A>&#xD800;</A></xml>'],
      ['a reference beyond Unicode', '<xml><A>&#x110000;</A></xml>'],
      ['a raw control character', '<xml><A>a\u0001b</A></xml>'],
      [
        'a stylesheet processing instruction',
        '<?xml version="1.0"?><?xml-stylesheet href="x"?><xml/>',
      ],
      ['a processing instruction inside the root', '<xml><?php echo 1; ?><A>1</A></xml>'],
      ['a declaration that is not first', '\n<?xml version="1.0"?><xml/>'],
      ['a malformed declaration', '<?xml version="1.0" <!ENTITY?><xml/>'],
      ['another root element', '<root><A>1</A></root>'],
      ['an upper-case root element', '<XML><A>1</A></XML>'],
      ['two root elements', '<xml><A>1</A></xml><xml><B>2</B></xml>'],
      ['text after the root', '<xml><A>1</A></xml>trailing'],
      ['text before the root', 'leading<xml><A>1</A></xml>'],
      ['text directly inside the root', '<xml>hello</xml>'],
      ['mixed text and elements', '<xml><A>text<B>1</B></A></xml>'],
      ['an unclosed element', '<xml><A>1</A>'],
      ['an unclosed child', '<xml><A>1</xml>'],
      ['a mismatched end tag', '<xml><A>1</B></xml>'],
      ['interleaved tags', '<xml><A><B>1</A></B></xml>'],
      ['an extra end tag', '<xml><A>1</A></A></xml>'],
      ['an unterminated start tag', '<xml><A</A></xml>'],
      ['an empty element name', '<xml><>1</></xml>'],
      ['attributes', '<xml><A type="x">1</A></xml>'],
      ['namespaced names', '<xml><a:B>1</a:B></xml>'],
      ['an unterminated CDATA section', '<xml><A><![CDATA[abc</A></xml>'],
      ['"]]>" in plain text', '<xml><A>a]]>b</A></xml>'],
      ['an unterminated comment', '<xml><!-- x </xml>'],
      ['"--" inside a comment', '<xml><!-- a -- b --></xml>'],
      ['duplicate keys', '<xml><MsgType>event</MsgType><MsgType>text</MsgType></xml>'],
      ['duplicate keys, one nested', '<xml><A>1</A><A><B>2</B></A></xml>'],
      ['nesting deeper than 16 levels', `<xml>${'<a>'.repeat(20)}x${'</a>'.repeat(20)}</xml>`],
      ['an empty body', ''],
      ['whitespace only', '  \n'],
      ['JSON', '{"Encrypt":"x"}'],
    ])('%s', (_label, xml) => {
      rejects(xml);
    });

    it('a body over maxBytes', () => {
      const xml = `<xml><A>${'a'.repeat(100)}</A></xml>`;
      expect(() => sut(xml, xml.length)).not.toThrow();
      rejects(xml, xml.length - 1);
    });

    it('a body over maxBytes once encoded as UTF-8', () => {
      const xml = `<xml><A>${'中'.repeat(30)}</A></xml>`; // 90 bytes of text, 30 UTF-16 units
      rejects(xml, xml.length + 30);
      expect(() => sut(xml, Buffer.byteLength(xml))).not.toThrow();
    });

    it('a body over the default 64 KiB', () => {
      rejects(`<xml><A>${'a'.repeat(65536)}</A></xml>`);
    });

    it('a non-string body', () => {
      rejects(Buffer.from('<xml/>') as unknown as string);
    });

    it('deeply nested input quickly, without overflowing the stack', () => {
      const xml = `<xml>${'<a>'.repeat(20000)}</xml>`;
      rejects(xml, 1_000_000);
    });
  });

  it('keeps a __proto__ element as an own property', () => {
    const fields = sut('<xml><__proto__>x</__proto__><constructor>y</constructor></xml>');
    expect(Object.getOwnPropertyNames(fields).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('errors say what went wrong and where, without echoing the body', () => {
    expect(() => sut('<xml><A>1</B></xml>')).toThrow(
      /Mismatched end tag <\/B> for <A> \(at offset \d+\)/,
    );
  });
});
