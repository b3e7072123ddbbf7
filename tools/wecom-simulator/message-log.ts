import { randomBytes } from 'node:crypto';

import { WECOM_LIMITS } from '../../src/wecom/wecom-limits.js';

export interface DeliveredMessage {
  msgid: string;
  msgtype: string;
  /** The request JSON as sent (the access token travels in the query string, not here). */
  body: unknown;
  time: string;
  recalled?: boolean;
}

export interface DeliveryCounters {
  delivered: number;
  /** Per-member deliveries over the minute or hour limit, dropped silently as WeCom does. */
  dropped: number;
  duplicatesSuppressed: number;
  /** text and markdown sends whose content was cut to WeCom's byte limit. */
  truncated: number;
}

interface SentMessage {
  sentAt: number;
  recipients: ReadonlySet<string>;
  entries: DeliveredMessage[];
  recalled: boolean;
}

interface ResponseCode {
  msgid: string;
  issuedAt: number;
  used: boolean;
}

interface DuplicateEntry {
  expiresAt: number;
  reply: Record<string, unknown>;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3600_000;
const RECALL_WINDOW_MS = WECOM_LIMITS.recallWindowHours * HOUR_MS;
const RESPONSE_CODE_TTL_MS = WECOM_LIMITS.responseCodeHours * HOUR_MS;
const DUPLICATE_PRUNE_THRESHOLD = 10_000;

export type RecallOutcome = 'ok' | 'unknown' | 'expired' | 'already-recalled';
export type ResponseCodeOutcome =
  | { status: 'ok'; msgid: string; recipients: ReadonlySet<string> }
  | { status: 'unknown' | 'used' | 'expired' };

/**
 * What members received, plus the bookkeeping WeCom keeps per app: rate windows, the duplicate
 * index, task ids and response codes. Every lookup is by key; nothing scans all messages.
 */
export class MessageLog {
  readonly counters: DeliveryCounters = {
    delivered: 0,
    dropped: 0,
    duplicatesSuppressed: 0,
    truncated: 0,
  };
  /** How often each undocumented template_card field was sent, by path. */
  readonly undocumentedFields = new Map<string, number>();
  private readonly inbox = new Map<string, DeliveredMessage[]>();
  private readonly sent = new Map<string, SentMessage>();
  /** Per member, the times of deliveries in the last hour, oldest first. */
  private readonly windows = new Map<string, number[]>();
  private readonly duplicates = new Map<string, DuplicateEntry>();
  private nextDuplicateSweep = DUPLICATE_PRUNE_THRESHOLD;
  private readonly taskIds = new Set<string>();
  private readonly responseCodes = new Map<string, ResponseCode>();

  constructor(
    private readonly perMemberPerMinute: number,
    private readonly perMemberPerHour: number,
  ) {}

  countUndocumented(paths: readonly string[]): void {
    for (const path of paths) {
      this.undocumentedFields.set(path, (this.undocumentedFields.get(path) ?? 0) + 1);
    }
  }

  /**
   * Delivers to each member unless their minute or hour window is full: WeCom drops those
   * silently (the send still succeeds).
   */
  deliver(msgtype: string, body: unknown, members: readonly string[], now: number): string {
    const msgid = randomBytes(24).toString('base64url');
    const time = new Date(now).toISOString();
    const entries: DeliveredMessage[] = [];
    for (const member of members) {
      if (!this.takeRateSlot(member, now)) {
        this.counters.dropped++;
        continue;
      }
      const entry: DeliveredMessage = { msgid, msgtype, body, time };
      this.inboxOf(member).push(entry);
      entries.push(entry);
      this.counters.delivered++;
    }
    this.sent.set(msgid, { sentAt: now, recipients: new Set(members), entries, recalled: false });
    return msgid;
  }

  /** Records a card update in the inbox of each member; not a delivery, so not rate-limited. */
  recordCardUpdate(msgid: string, body: unknown, members: readonly string[], now: number): void {
    const time = new Date(now).toISOString();
    for (const member of members) {
      this.inboxOf(member).push({ msgid, msgtype: 'update_template_card', body, time });
    }
  }

  messagesFor(userid: string): DeliveredMessage[] {
    return (this.inbox.get(userid.toLowerCase()) ?? []).map((entry) => ({ ...entry }));
  }

  recall(msgid: string, now: number): RecallOutcome {
    const message = this.sent.get(msgid);
    if (!message) return 'unknown';
    if (message.recalled) return 'already-recalled';
    if (now - message.sentAt > RECALL_WINDOW_MS) return 'expired';
    message.recalled = true;
    for (const entry of message.entries) entry.recalled = true;
    return 'ok';
  }

  findDuplicate(key: string, now: number): Record<string, unknown> | undefined {
    const entry = this.duplicates.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.duplicates.delete(key);
      return undefined;
    }
    return entry.reply;
  }

  rememberForDuplicateCheck(
    key: string,
    reply: Record<string, unknown>,
    now: number,
    seconds: number,
  ): void {
    // Sweep only when the index has doubled since the last sweep: amortised O(1) per send.
    if (this.duplicates.size >= this.nextDuplicateSweep) {
      for (const [k, entry] of this.duplicates) {
        if (entry.expiresAt <= now) this.duplicates.delete(k);
      }
      this.nextDuplicateSweep = Math.max(DUPLICATE_PRUNE_THRESHOLD, this.duplicates.size * 2);
    }
    this.duplicates.set(key, { expiresAt: now + seconds * 1000, reply });
  }

  hasTaskId(taskId: string): boolean {
    return this.taskIds.has(taskId);
  }

  addTaskId(taskId: string): void {
    this.taskIds.add(taskId);
  }

  issueResponseCode(msgid: string, now: number): string {
    const code = randomBytes(32).toString('base64url');
    this.responseCodes.set(code, { msgid, issuedAt: now, used: false });
    return code;
  }

  /** A response code works once, within 72 hours of the send. */
  consumeResponseCode(code: string, now: number): ResponseCodeOutcome {
    const entry = this.responseCodes.get(code);
    if (!entry) return { status: 'unknown' };
    if (entry.used) return { status: 'used' };
    if (now - entry.issuedAt > RESPONSE_CODE_TTL_MS) return { status: 'expired' };
    entry.used = true;
    const recipients = this.sent.get(entry.msgid)?.recipients ?? new Set<string>();
    return { status: 'ok', msgid: entry.msgid, recipients };
  }

  clear(): void {
    this.counters.delivered = 0;
    this.counters.dropped = 0;
    this.counters.duplicatesSuppressed = 0;
    this.counters.truncated = 0;
    this.undocumentedFields.clear();
    this.inbox.clear();
    this.sent.clear();
    this.windows.clear();
    this.duplicates.clear();
    this.nextDuplicateSweep = DUPLICATE_PRUNE_THRESHOLD;
    this.taskIds.clear();
    this.responseCodes.clear();
  }

  private inboxOf(member: string): DeliveredMessage[] {
    let list = this.inbox.get(member);
    if (!list) {
      list = [];
      this.inbox.set(member, list);
    }
    return list;
  }

  private takeRateSlot(member: string, now: number): boolean {
    let window = this.windows.get(member);
    if (!window) {
      window = [];
      this.windows.set(member, window);
    }
    while (window.length > 0 && window[0] <= now - HOUR_MS) window.shift();
    if (window.length >= this.perMemberPerHour) return false;
    // The window is sorted: the last minute is its tail.
    let lastMinute = 0;
    for (let i = window.length - 1; i >= 0 && window[i] > now - MINUTE_MS; i--) {
      if (++lastMinute >= this.perMemberPerMinute) return false;
    }
    window.push(now);
    return true;
  }
}
