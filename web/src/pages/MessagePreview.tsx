import type { ReactNode } from 'react';

/**
 * A message as a WeCom member sees it, from the body WeCom got. Everything is rendered as React
 * text (no HTML is injected): the markdown subset and textcard's coloured divs are parsed here.
 * Images are shown as a placeholder: the console loads nothing from other origins.
 */
export function MessagePreview({ msgtype, content }: { msgtype: string; content: unknown }) {
  const body = (content ?? {}) as Record<string, unknown>;
  return (
    <div className="wecom-chat" data-msgtype={msgtype}>
      <div className="wecom-avatar" aria-hidden="true">
        App
      </div>
      <div className="wecom-message">{render(msgtype, body)}</div>
    </div>
  );
}

function render(msgtype: string, body: Record<string, unknown>): ReactNode {
  switch (msgtype) {
    case 'text':
      return <div className="wecom-bubble pre">{str(body.content)}</div>;
    case 'markdown':
      return <div className="wecom-bubble">{markdown(str(body.content))}</div>;
    case 'textcard':
      return <TextCard body={body} />;
    case 'news':
      return <News body={body} />;
    case 'template_card':
      return <TemplateCard card={body} />;
    default:
      return <pre className="wecom-bubble small">{JSON.stringify(body, null, 2)}</pre>;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));
const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.map(obj) : []);

function SafeLink({ href, children }: { href: string; children: ReactNode }) {
  return /^https?:\/\//i.test(href) ? (
    <a href={href} target="_blank" rel="noreferrer noopener">
      {children}
    </a>
  ) : (
    <span>{children}</span>
  );
}

/** WeCom's markdown: headings, bold, links, inline code, quotes, <font color="info|comment|warning">. */
export function markdown(source: string): ReactNode {
  return source.split('\n').map((line, i) => {
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      return (
        <div key={i} className={`md-h md-h${heading[1]!.length}`}>
          {inline(heading[2]!)}
        </div>
      );
    }
    if (line.startsWith('>')) {
      return (
        <div key={i} className="md-quote">
          {inline(line.replace(/^>\s?/, ''))}
        </div>
      );
    }
    return <div key={i}>{line === '' ? '\u00a0' : inline(line)}</div>;
  });
}

const INLINE =
  /(\*\*([^*]+)\*\*)|(\[([^\]]+)\]\(([^)\s]+)\))|(`([^`]+)`)|(<font color="(info|comment|warning)">([\s\S]*?)<\/font>)/;

function inline(text: string): ReactNode[] {
  const out: ReactNode[] = [];
  let rest = text;
  let key = 0;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      out.push(rest);
      break;
    }
    if (m.index > 0) out.push(rest.slice(0, m.index));
    if (m[1]) out.push(<strong key={key++}>{inline(m[2]!)}</strong>);
    else if (m[3])
      out.push(
        <SafeLink key={key++} href={m[5]!}>
          {m[4]}
        </SafeLink>,
      );
    else if (m[6]) out.push(<code key={key++}>{m[7]}</code>);
    else if (m[8])
      out.push(
        <span key={key++} className={`md-${m[9]}`}>
          {inline(m[10]!)}
        </span>,
      );
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

/** textcard's description: text with <div class="gray|normal|highlight"> lines. */
function cardDescription(source: string): ReactNode {
  const parts: ReactNode[] = [];
  const re = /<div class="(gray|normal|highlight)">([\s\S]*?)<\/div>/g;
  let last = 0;
  let m;
  let key = 0;
  while ((m = re.exec(source))) {
    if (m.index > last) parts.push(<div key={key++}>{source.slice(last, m.index)}</div>);
    parts.push(
      <div key={key++} className={`tc-${m[1]}`}>
        {m[2]}
      </div>,
    );
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push(<div key={key}>{source.slice(last)}</div>);
  return parts;
}

function TextCard({ body }: { body: Record<string, unknown> }) {
  return (
    <div className="wecom-card">
      <div className="card-title">{str(body.title)}</div>
      <div className="card-body pre">{cardDescription(str(body.description))}</div>
      <div className="card-footer">
        <SafeLink href={str(body.url)}>{str(body.btntxt) || '详情'}</SafeLink>
      </div>
    </div>
  );
}

function News({ body }: { body: Record<string, unknown> }) {
  const articles = list(body.articles);
  return (
    <div className="wecom-card">
      {articles.map((a, i) => (
        <div key={i} className={i === 0 ? 'news-lead' : 'news-item'}>
          {str(a.picurl) && (
            <div className="news-picture" role="img" aria-label="picture">
              🖼
            </div>
          )}
          <div className="card-title">
            <SafeLink href={str(a.url)}>{str(a.title)}</SafeLink>
          </div>
          {str(a.description) && <div className="muted small">{str(a.description)}</div>}
        </div>
      ))}
    </div>
  );
}

const BUTTON_STYLES: Record<string, string> = { '1': 'primary', '2': 'plain', '3': 'danger' };

function TemplateCard({ card }: { card: Record<string, unknown> }) {
  const source = obj(card.source);
  const main = obj(card.main_title);
  const emphasis = obj(card.emphasis_content);
  const quote = obj(card.quote_area);
  const rows = list(card.horizontal_content_list);
  const jumps = list(card.jump_list);
  const buttons = list(card.button_list);
  const action = obj(card.card_action);
  return (
    <div className="wecom-card template" data-card-type={str(card.card_type)}>
      {str(source.desc) && <div className="muted small">{str(source.desc)}</div>}
      {str(main.title) && <div className="card-title">{str(main.title)}</div>}
      {str(main.desc) && <div className="muted small">{str(main.desc)}</div>}
      {str(emphasis.title) && (
        <div className="emphasis">
          <div className="emphasis-title">{str(emphasis.title)}</div>
          <div className="muted small">{str(emphasis.desc)}</div>
        </div>
      )}
      {(str(quote.title) || str(quote.quote_text)) && (
        <div className="md-quote">
          {str(quote.title) && <div>{str(quote.title)}</div>}
          <div className="pre">{str(quote.quote_text)}</div>
        </div>
      )}
      {str(card.sub_title_text) && <div className="pre">{str(card.sub_title_text)}</div>}
      {rows.length > 0 && (
        <dl className="card-rows">
          {rows.map((r, i) => (
            <div key={i}>
              <dt>{str(r.keyname)}</dt>
              <dd>
                {str(r.url) ? <SafeLink href={str(r.url)}>{str(r.value)}</SafeLink> : str(r.value)}
              </dd>
            </div>
          ))}
        </dl>
      )}
      {jumps.length > 0 && (
        <ul className="card-jumps">
          {jumps.map((j, i) => (
            <li key={i}>
              <SafeLink href={str(j.url)}>{str(j.title)}</SafeLink>
            </li>
          ))}
        </ul>
      )}
      {buttons.length > 0 && (
        <div className="card-buttons">
          {buttons.map((b, i) => (
            <span key={i} className={`card-button ${BUTTON_STYLES[str(b.style)] ?? 'plain'}`}>
              {str(b.text)}
            </span>
          ))}
        </div>
      )}
      {!buttons.length && str(action.url) && (
        <div className="card-footer">
          <SafeLink href={str(action.url)}>查看详情</SafeLink>
        </div>
      )}
    </div>
  );
}
