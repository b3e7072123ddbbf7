import {
  MAX_TOUSER,
  planFirstCalls,
  planResendCalls,
  sendMessageRequest,
  withChunkTaskId,
  type ClaimedMessage,
  type PlannedRecipient,
} from './delivery-plan.js';

const ORG = '00000000-0000-0000-0000-000000000001';

const card = (taskId: string) => ({
  card_type: 'button_interaction',
  main_title: { title: 'Interview at 10:00' },
  task_id: taskId,
});

function message(id: string, content: Record<string, unknown> = card('iv-1')): ClaimedMessage {
  return {
    id,
    organizationId: ORG,
    corpId: 'ww-corp',
    attempts: 1,
    kind: 'interview.invitation',
    msgtype: 'template_card',
    agentId: 1000002,
    content,
  };
}

let nextRecipientId = 1;
function recipients(messageId: string, count: number, prefix = messageId): PlannedRecipient[] {
  return Array.from({ length: count }, (_, i) => ({
    id: String(nextRecipientId++),
    messageId,
    wecomUserId: `${prefix}-user-${i}`,
  }));
}

const byId = (...messages: ClaimedMessage[]) => new Map(messages.map((m) => [m.id, m]));
const keys = () => {
  let n = 0;
  return () => `key-${++n}`;
};

describe('delivery plan', () => {
  describe(planFirstCalls.name, () => {
    it('sends the identical cards of one group in one shared call, keyed on every recipient', () => {
      const [a, b] = [message('a'), message('b')];
      const reserved = [...recipients('a', 2), ...recipients('b', 3)];

      const sut = planFirstCalls(reserved, byId(a, b), keys());

      expect(sut.calls).toHaveLength(1);
      const [call] = sut.calls;
      expect(call.shared).toBe(true);
      expect(call.touser).toEqual(reserved.map((r) => r.wecomUserId));
      expect(call.recipients.map((r) => r.id)).toEqual(reserved.map((r) => r.id));
      expect(sut.sendKeys).toEqual(reserved.map((r) => ({ recipientId: r.id, sendKey: 'key-1' })));
    });

    it('lists a shared call in recipient id order, numerically', () => {
      const [a, b] = [message('a'), message('b')];
      const reserved: PlannedRecipient[] = [
        { id: '10', messageId: 'a', wecomUserId: 'ten' },
        { id: '9', messageId: 'b', wecomUserId: 'nine' },
      ];

      const [call] = planFirstCalls(reserved, byId(a, b), keys()).calls;

      expect(call.touser).toEqual(['nine', 'ten']);
    });

    it('gives messages with different bodies calls of their own, without send keys', () => {
      const [a, b] = [message('a', card('iv-1')), message('b', card('iv-2'))];
      const reserved = [...recipients('a', 2), ...recipients('b', 2)];

      const sut = planFirstCalls(reserved, byId(a, b), keys());

      expect(sut.calls.map((c) => [c.body.id, c.shared, c.touser.length])).toEqual([
        ['a', false, 2],
        ['b', false, 2],
      ]);
      expect(sut.sendKeys).toEqual([]);
    });

    it("never shares a call between two organisations' or two corps' identical cards", () => {
      const a = message('a');
      const b = { ...message('b'), organizationId: '00000000-0000-0000-0000-00000000000b' };
      const c = { ...message('c'), corpId: 'ww-other-corp' };
      const reserved = [...recipients('a', 2), ...recipients('b', 2), ...recipients('c', 2)];

      const sut = planFirstCalls(reserved, byId(a, b, c), keys());

      expect(sut.calls.map((call) => [call.body.id, call.shared, call.touser.length])).toEqual([
        ['a', false, 2],
        ['b', false, 2],
        ['c', false, 2],
      ]);
      expect(sut.sendKeys).toEqual([]);
    });

    it('cuts a message alone in its call at 1000 recipients', () => {
      const a = message('a');
      const reserved = recipients('a', 2 * MAX_TOUSER + 500);

      const sut = planFirstCalls(reserved, byId(a), keys());

      expect(sut.calls.map((c) => c.touser.length)).toEqual([1000, 1000, 500]);
      expect(sut.calls.every((c) => !c.shared)).toBe(true);
      expect(sut.calls.flatMap((c) => c.recipients)).toEqual(reserved);
      expect(sut.sendKeys).toEqual([]);
    });

    it('shares a call only while whole messages fit in 1000 recipients', () => {
      const messages = byId(message('a'), message('b'), message('c'), message('d'));
      const reserved = [
        ...recipients('a', 400),
        ...recipients('b', 600),
        ...recipients('c', 700),
        ...recipients('d', 301),
      ];

      const sut = planFirstCalls(reserved, messages, keys());

      // a + b fill one call exactly; c + d would be 1001, so each goes alone.
      expect(
        sut.calls.map((c) => [[...new Set(c.recipients.map((r) => r.messageId))], c.shared]),
      ).toEqual([
        [['a', 'b'], true],
        [['c'], false],
        [['d'], false],
      ]);
      expect(sut.calls.every((c) => c.touser.length <= MAX_TOUSER)).toBe(true);
      expect(new Set(sut.sendKeys.map((k) => k.sendKey))).toEqual(new Set(['key-1']));
      expect(sut.sendKeys).toHaveLength(1000);
    });
  });

  describe(planResendCalls.name, () => {
    it('resends a shared call with its whole first list, deciding only the claimed recipients', () => {
      const a = message('a');
      const [mine] = recipients('a', 1);
      const firstList = ['b-user-0', mine.wecomUserId, 'c-user-0'];

      const calls = planResendCalls(
        [{ ...mine, sendKey: 'key-1' }],
        byId(a),
        new Map([['key-1', firstList]]),
      );

      expect(calls).toEqual([{ body: a, touser: firstList, recipients: [mine], shared: true }]);
    });

    it("resends a message's own call with its recipients, 1000 a call", () => {
      const a = message('a');
      const unsettled = recipients('a', MAX_TOUSER + 1).map((r) => ({ ...r, sendKey: null }));

      const calls = planResendCalls(unsettled, byId(a), new Map());

      expect(calls.map((c) => [c.shared, c.touser.length])).toEqual([
        [false, 1000],
        [false, 1],
      ]);
    });
  });

  describe(withChunkTaskId.name, () => {
    it('gives each chunk its own task_id, the same whenever the same list is sent', () => {
      const a = message('a', card('interview-42'));
      const reserved = recipients('a', 1500);
      const plan = () => planFirstCalls(reserved, byId(a), keys()).calls;
      const [first, second] = plan();

      const taskIdOf = (touser: string[]) =>
        (withChunkTaskId(a, touser) as { task_id: string }).task_id;

      expect(taskIdOf(first.touser)).toMatch(/^interview-42-[0-9A-Za-z_-]{10}$/);
      expect(taskIdOf(first.touser)).not.toBe(taskIdOf(second.touser));
      // A retry of the same chunk, in any order or case, is the same JSON for the duplicate check.
      const reordered = [...first.touser].reverse().map((u) => u.toUpperCase());
      expect(taskIdOf(reordered)).toBe(taskIdOf(first.touser));
      expect(plan().map(sendMessageRequest)).toEqual([first, second].map(sendMessageRequest));
    });

    it('leaves other message types and cards without a task_id as they are', () => {
      const text = { ...message('t', { content: 'hello' }), msgtype: 'text' as const };
      const noTask = message('n', { card_type: 'text_notice' });

      expect(withChunkTaskId(text, ['u'])).toBe(text.content);
      expect(withChunkTaskId(noTask, ['u'])).toBe(noTask.content);
    });
  });

  describe(sendMessageRequest.name, () => {
    it('sends the body under its msgtype with the duplicate check on', () => {
      const a = message('a', card('iv-7'));
      const [call] = planFirstCalls(recipients('a', 2), byId(a), keys()).calls;

      const request = sendMessageRequest(call);

      expect(request).toMatchObject({
        touser: 'a-user-0|a-user-1',
        msgtype: 'template_card',
        agentid: 1000002,
        enable_duplicate_check: 1,
        duplicate_check_interval: 14400,
      });
      expect((request.template_card as { task_id: string }).task_id).toMatch(/^iv-7-/);
    });
  });
});
