import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

/** English, the reference: every key here must be in zh too (the type says so). */
const en = {
  'app.title': 'ShowMeBug × WeCom admin',
  'app.skip': 'Skip to content',
  'app.nav': 'Sections',
  'app.signOut': 'Sign out',
  'app.signedInAs': 'Signed in as {id}',
  'app.language': 'Language',
  'app.sandbox': 'Sandbox: WeCom is the built-in simulator',
  'app.organization': 'Organisation',
  'nav.connection': 'WeCom connection',
  'nav.people': 'People',
  'nav.messages': 'Messages',
  'nav.interviews': 'Interviews',
  'nav.settings': 'Settings',
  'nav.audit': 'Audit',

  'common.loading': 'Loading…',
  'common.save': 'Save',
  'common.saving': 'Saving…',
  'common.saved': 'Saved.',
  'common.cancel': 'Cancel',
  'common.next': 'Next page',
  'common.first': 'First page',
  'common.none': 'Nothing here.',
  'common.requestId': 'Request id: {id}',
  'common.network': 'The service could not be reached: {detail}',
  'common.yes': 'yes',
  'common.no': 'no',
  'common.copy': 'Copy',
  'common.copied': 'Copied',
  'common.back': 'Back',
  'common.refresh': 'Refresh',
  'common.filter': 'Filter',
  'common.clear': 'Clear',
  'common.any': 'Any',
  'common.time': 'Time',
  'common.status': 'Status',
  'common.details': 'Details',

  'signin.title': 'Sign in',
  'signin.intro':
    'The admin console of the ShowMeBug × WeCom integration. Administrators sign in with WeCom: scan the QR code with the WeCom app, or confirm in WeCom.',
  'signin.wecom': 'Sign in with WeCom',
  'signin.org': 'Organisation',
  'signin.orgHint': 'The short name in your console link (/admin?org=…), e.g. acme.',
  'signin.orgInvalid': 'Lower-case letters, digits and dashes, 2 to 63 of them.',
  'signin.sandboxTitle': 'Sandbox mode',
  'signin.sandboxText':
    'WeCom is the built-in simulator here, and nobody real receives anything. Sign in as its sandbox admin, a simulated WeCom member:',
  'signin.sandbox': 'Sign in as the sandbox admin',
  'signin.notAdmin':
    'This account ({id}) is signed in but is not an administrator. Sign out and sign in with an administrator’s WeCom account.',
  'signin.expired': 'Your session ended. Sign in again.',

  'conn.title': 'WeCom connection',
  'conn.app': 'The WeCom app',
  'conn.corpId': 'CorpID (企业ID)',
  'conn.agentId': 'AgentId',
  'conn.secret': 'Secret',
  'conn.secretSet': 'Set, ends in {last4}',
  'conn.secretUnset': 'Not set',
  'conn.secretNew': 'New Secret (leave empty to keep the current one)',
  'conn.secretHint':
    'WeCom is asked for a token with the new values before they are saved; if it refuses, nothing changes.',
  'conn.test': 'Test connection',
  'conn.testing': 'Testing…',
  'conn.token': 'Access token',
  'conn.tokenLeft': '{time} left',
  'conn.tokenNone': 'No token yet',
  'conn.tokenState.ok': 'Working',
  'conn.tokenState.misconfigured': 'WeCom refuses the configuration',
  'conn.tokenState.unreachable': 'WeCom does not answer',
  'conn.tokenState.unknown': 'Not asked for yet',
  'conn.callback': 'Receiving messages (接收消息)',
  'conn.callbackIntro':
    'Paste these into the app’s “接收消息” settings in the WeCom admin console. Save a new Token and EncodingAESKey here first: WeCom checks the URL with them when you save there.',
  'conn.callbackUrl': 'URL',
  'conn.callbackToken': 'Token',
  'conn.callbackAesKey': 'EncodingAESKey',
  'conn.generate': 'Generate a new Token and EncodingAESKey',
  'conn.generated':
    'New values, not saved yet. Copy them now: once saved they are shown only by their last 4 characters.',
  'conn.saveCallback': 'Save the new Token and EncodingAESKey',
  'conn.result.ok': 'Connected: WeCom issued an access token, valid for {minutes} minutes.',
  'conn.result.unreachable':
    'WeCom could not be reached (network, DNS, firewall or timeout). Nothing is wrong with the credentials as far as we know.',
  'conn.result.40001':
    'Wrong Secret: WeCom refused it (or the app is disabled). Copy the Secret of this app again from the WeCom admin console.',
  'conn.result.40013': 'Wrong CorpID: WeCom does not know this company.',
  'conn.result.40091': 'The Secret is malformed: copy it again, whole.',
  'conn.result.40056': 'Wrong AgentId: it is not an app of this company.',
  'conn.result.301002': 'The AgentId does not belong to this Secret: they must be the same app’s.',
  'conn.result.60020':
    'Untrusted IP: WeCom refuses calls from {ip}. Add it to the app’s trusted IPs (企业可信IP).',
  'conn.result.48002': 'This API is not allowed for the app: check its permissions.',
  'conn.result.45009': 'WeCom says we ask too often; try again in a minute.',
  'conn.result.other': 'WeCom answered errcode {errcode}: {errmsg}',
  'conn.result.advice': 'What to do: {action}',
  'conn.problem.422': 'WeCom refused the new credentials (errcode {errcode}); nothing was changed.',
  'conn.unknownIp': 'our address',

  'people.title': 'People',
  'people.mappings': 'Mappings',
  'people.search': 'Search',
  'people.searchValue': 'Id starts with',
  'people.searchHelp':
    'A platform user id or WeCom userid, or its beginning; case does not matter.',
  'people.platformUserId': 'Platform user id',
  'people.wecomUserId': 'WeCom userid',
  'people.source': 'Source',
  'people.language': 'Language',
  'people.status': 'Status',
  'people.created': 'Mapped',
  'people.createdBy': 'By',
  'people.unmap': 'Unmap',
  'people.confirmUnmap': 'Confirm: unmap {id}',
  'people.unmapped': 'Unmapped {id}.',
  'people.map': 'Map a person',
  'people.mapIntro':
    'Link a ShowMeBug user to a WeCom member. A mobile number or email is looked up in WeCom.',
  'people.lookupBy': 'Find the WeCom member by',
  'people.by.wecomUserId': 'WeCom userid',
  'people.by.mobile': 'Mobile',
  'people.by.email': 'Email',
  'people.lookupValue': 'Value',
  'people.mapButton': 'Map',
  'people.mapped': 'Mapped {platform} to {wecom}.',
  'people.holder': 'Already mapped: {holder}',
  'people.unreached': 'Who WeCom will not reach',
  'people.unreachedIntro':
    'Participants of interviews from the last {days} days and every upcoming one who have no working mapping.',
  'people.unreachedNone': 'Everyone in recent and upcoming interviews can be reached.',
  'people.interviewCount': 'Interviews',
  'people.nextInterview': 'Next (or latest) interview',
  'people.mapThem': 'Map {id}',
  'people.wecom.unmapped': 'No mapping',
  'people.wecom.left': 'Left the corp',
  'people.wecom.disabled': 'Disabled in WeCom',
  'people.wecom.active': 'Active',

  'messages.title': 'Messages',
  'messages.status': 'Status',
  'messages.kind': 'Kind',
  'messages.interview': 'Interview id',
  'messages.recipient': 'Recipient (platform user id)',
  'messages.since': 'Created since',
  'messages.created': 'Created',
  'messages.type': 'Type',
  'messages.attempts': 'Attempts',
  'messages.lastError': 'Last error',
  'messages.open': 'Open',
  'messages.detail': 'Message',
  'messages.recipients': 'Recipients',
  'messages.attemptLog': 'Attempts',
  'messages.preview': 'As WeCom shows it',
  'messages.retry': 'Retry the failed recipients',
  'messages.recall': 'Recall',
  'messages.recallShared':
    'This message went out in one WeCom call with {count} other message(s): recalling it recalls them too. Recall all of them?',
  'messages.recallAll': 'Recall all of them',
  'messages.retried': 'Queued again.',
  'messages.recalled': 'Recalled.',
  'messages.sentAt': 'Sent',
  'messages.nextAttempt': 'Next attempt',
  'messages.msgid': 'WeCom msgid',
  'messages.deliveredAt': 'Delivered',
  'messages.why': 'Why',
  'messages.startedAt': 'Started',
  'messages.latency': 'Latency',
  'messages.errcode': 'errcode',
  'messages.errmsg': 'errmsg',
  'messages.http': 'HTTP',
  'messages.count': 'Recipients',
  'messages.noAttempts': 'No call to WeCom yet.',
  'messages.live': 'Updates by itself while messages are on their way.',

  'interviews.title': 'Interviews',
  'interviews.upcoming': 'Upcoming interviews',
  'interviews.starts': 'Starts',
  'interviews.name': 'Interview',
  'interviews.candidate': 'Candidate',
  'interviews.participants': 'Participants',
  'interviews.rsvp': 'RSVP',
  'interviews.role': 'Role',
  'interviews.wecom': 'WeCom',
  'interviews.reminders': 'Reminders',
  'interviews.lead': 'Lead time',
  'interviews.due': 'Due',
  'interviews.state': 'State',
  'interviews.messages': 'Messages about it',
  'interviews.unreachable': 'Will not be reached',
  'interviews.room': 'Room',
  'interviews.duration': '{minutes} min',
  'interviews.leadBefore': '{minutes} min before',
  'interviews.leadAfter': '{minutes} min after the end',

  'settings.title': 'Settings',
  'settings.reminders': 'Reminder lead times',
  'settings.remindersHelp':
    'Minutes before an interview starts, separated by commas (e.g. 15, 1440 for 15 minutes and a day).',
  'settings.quiet': 'Quiet hours',
  'settings.quietOn': 'Hold non-urgent messages during quiet hours',
  'settings.quietStart': 'From',
  'settings.quietEnd': 'Until',
  'settings.quietHelp':
    'In each interview’s time zone. Anything about an interview that starts inside the window goes at once.',
  'settings.language': 'Default language of messages',
  'settings.nudge': 'Feedback nudge',
  'settings.nudgeOn': 'Remind interviewers to leave feedback',
  'settings.nudgeMin': 'Minutes after the interview ends',
  'settings.notNumbers': 'Write whole numbers separated by commas',

  'audit.title': 'Audit',
  'audit.intro': 'Who changed the configuration, when, and which fields (never their values).',
  'audit.at': 'When',
  'audit.actor': 'Who',
  'audit.action': 'What',
  'audit.fields': 'Fields',
  'audit.outcome': 'Outcome',
  'audit.detail': 'Detail',
  'audit.version': 'Version',
} as const;

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  'app.title': 'ShowMeBug × 企业微信 管理后台',
  'app.skip': '跳到正文',
  'app.nav': '栏目',
  'app.signOut': '退出登录',
  'app.signedInAs': '已登录：{id}',
  'app.language': '语言',
  'app.sandbox': '沙箱模式：企业微信为内置模拟器',
  'app.organization': '组织',
  'nav.connection': '企业微信连接',
  'nav.people': '人员',
  'nav.messages': '消息',
  'nav.interviews': '面试',
  'nav.settings': '设置',
  'nav.audit': '审计日志',

  'common.loading': '加载中…',
  'common.save': '保存',
  'common.saving': '保存中…',
  'common.saved': '已保存。',
  'common.cancel': '取消',
  'common.next': '下一页',
  'common.first': '第一页',
  'common.none': '暂无内容。',
  'common.requestId': '请求 ID：{id}',
  'common.network': '无法连接服务：{detail}',
  'common.yes': '是',
  'common.no': '否',
  'common.copy': '复制',
  'common.copied': '已复制',
  'common.back': '返回',
  'common.refresh': '刷新',
  'common.filter': '筛选',
  'common.clear': '清除',
  'common.any': '全部',
  'common.time': '时间',
  'common.status': '状态',
  'common.details': '详情',

  'signin.title': '登录',
  'signin.intro':
    'ShowMeBug × 企业微信集成的管理后台。管理员使用企业微信登录：用企业微信扫码，或在企业微信中确认。',
  'signin.wecom': '使用企业微信登录',
  'signin.org': '组织',
  'signin.orgHint': '管理后台链接（/admin?org=…）中的简称，例如 acme。',
  'signin.orgInvalid': '只能是小写字母、数字和短横线，2 到 63 个字符。',
  'signin.sandboxTitle': '沙箱模式',
  'signin.sandboxText':
    '此处的企业微信是内置模拟器，不会有真实的人收到消息。以沙箱管理员（一个模拟的企业微信成员）登录：',
  'signin.sandbox': '以沙箱管理员登录',
  'signin.notAdmin': '此账号（{id}）已登录，但不是管理员。请退出后使用管理员的企业微信账号登录。',
  'signin.expired': '登录已过期，请重新登录。',

  'conn.title': '企业微信连接',
  'conn.app': '企业微信应用',
  'conn.corpId': '企业ID（CorpID）',
  'conn.agentId': 'AgentId',
  'conn.secret': 'Secret',
  'conn.secretSet': '已设置，末四位 {last4}',
  'conn.secretUnset': '未设置',
  'conn.secretNew': '新的 Secret（留空则保留当前值）',
  'conn.secretHint': '保存前会先用新值向企业微信获取 token；若被拒绝，配置不变。',
  'conn.test': '测试连接',
  'conn.testing': '测试中…',
  'conn.token': 'Access token',
  'conn.tokenLeft': '剩余 {time}',
  'conn.tokenNone': '尚无 token',
  'conn.tokenState.ok': '正常',
  'conn.tokenState.misconfigured': '企业微信拒绝了当前配置',
  'conn.tokenState.unreachable': '企业微信无响应',
  'conn.tokenState.unknown': '尚未获取',
  'conn.callback': '接收消息',
  'conn.callbackIntro':
    '将以下内容填入企业微信管理后台中该应用的“接收消息”设置。请先在此保存新的 Token 和 EncodingAESKey：在企业微信保存时会用它们校验 URL。',
  'conn.callbackUrl': 'URL',
  'conn.callbackToken': 'Token',
  'conn.callbackAesKey': 'EncodingAESKey',
  'conn.generate': '生成新的 Token 和 EncodingAESKey',
  'conn.generated': '新值尚未保存。请现在复制：保存后只显示末四位。',
  'conn.saveCallback': '保存新的 Token 和 EncodingAESKey',
  'conn.result.ok': '连接成功：企业微信已发放 access token，有效期 {minutes} 分钟。',
  'conn.result.unreachable':
    '无法连接企业微信（网络、DNS、防火墙或超时）。就目前所知，凭据本身没有问题。',
  'conn.result.40001':
    'Secret 错误：企业微信拒绝了它（或应用已停用）。请从企业微信管理后台重新复制该应用的 Secret。',
  'conn.result.40013': '企业ID错误：企业微信不认识这家企业。',
  'conn.result.40091': 'Secret 格式不正确：请完整地重新复制。',
  'conn.result.40056': 'AgentId 错误：它不是本企业的应用。',
  'conn.result.301002': 'AgentId 与 Secret 不属于同一个应用。',
  'conn.result.60020': 'IP 不可信：企业微信拒绝来自 {ip} 的调用。请将其加入应用的“企业可信IP”。',
  'conn.result.48002': '该应用无权调用此接口：请检查应用权限。',
  'conn.result.45009': '企业微信提示调用过于频繁，请一分钟后再试。',
  'conn.result.other': '企业微信返回 errcode {errcode}：{errmsg}',
  'conn.result.advice': '处理建议：{action}',
  'conn.problem.422': '企业微信拒绝了新的凭据（errcode {errcode}），配置未改变。',
  'conn.unknownIp': '本服务的地址',

  'people.title': '人员',
  'people.mappings': '账号映射',
  'people.search': '搜索',
  'people.searchValue': 'ID 开头',
  'people.searchHelp': '平台用户 ID 或企业微信 userid，或其开头部分；不区分大小写。',
  'people.platformUserId': '平台用户 ID',
  'people.wecomUserId': '企业微信 userid',
  'people.source': '来源',
  'people.language': '语言',
  'people.status': '状态',
  'people.created': '映射时间',
  'people.createdBy': '操作人',
  'people.unmap': '解除映射',
  'people.confirmUnmap': '确认解除 {id} 的映射',
  'people.unmapped': '已解除 {id} 的映射。',
  'people.map': '添加映射',
  'people.mapIntro': '将 ShowMeBug 用户关联到企业微信成员。手机号或邮箱会在企业微信中查找。',
  'people.lookupBy': '查找企业微信成员的方式',
  'people.by.wecomUserId': '企业微信 userid',
  'people.by.mobile': '手机号',
  'people.by.email': '邮箱',
  'people.lookupValue': '值',
  'people.mapButton': '映射',
  'people.mapped': '已将 {platform} 映射到 {wecom}。',
  'people.holder': '已被映射：{holder}',
  'people.unreached': '企业微信无法触达的人',
  'people.unreachedIntro': '最近 {days} 天及今后所有面试的参与者中，没有有效映射的人。',
  'people.unreachedNone': '最近及即将进行的面试中，所有人都能收到消息。',
  'people.interviewCount': '面试数',
  'people.nextInterview': '下一场（或最近一场）面试',
  'people.mapThem': '映射 {id}',
  'people.wecom.unmapped': '未映射',
  'people.wecom.left': '已离开企业',
  'people.wecom.disabled': '已在企业微信中禁用',
  'people.wecom.active': '正常',

  'messages.title': '消息',
  'messages.status': '状态',
  'messages.kind': '类别',
  'messages.interview': '面试 ID',
  'messages.recipient': '接收人（平台用户 ID）',
  'messages.since': '创建时间不早于',
  'messages.created': '创建时间',
  'messages.type': '类型',
  'messages.attempts': '尝试次数',
  'messages.lastError': '最近错误',
  'messages.open': '打开',
  'messages.detail': '消息',
  'messages.recipients': '接收人',
  'messages.attemptLog': '调用记录',
  'messages.preview': '企业微信中的样子',
  'messages.retry': '重发失败的接收人',
  'messages.recall': '撤回',
  'messages.recallShared':
    '这条消息与另外 {count} 条消息在同一次企业微信调用中发出：撤回它会同时撤回它们。全部撤回？',
  'messages.recallAll': '全部撤回',
  'messages.retried': '已重新排队。',
  'messages.recalled': '已撤回。',
  'messages.sentAt': '发送时间',
  'messages.nextAttempt': '下次尝试',
  'messages.msgid': '企业微信 msgid',
  'messages.deliveredAt': '送达时间',
  'messages.why': '原因',
  'messages.startedAt': '开始时间',
  'messages.latency': '耗时',
  'messages.errcode': 'errcode',
  'messages.errmsg': 'errmsg',
  'messages.http': 'HTTP',
  'messages.count': '人数',
  'messages.noAttempts': '尚未调用企业微信。',
  'messages.live': '有消息在发送途中时自动刷新。',

  'interviews.title': '面试',
  'interviews.upcoming': '即将进行的面试',
  'interviews.starts': '开始时间',
  'interviews.name': '面试',
  'interviews.candidate': '候选人',
  'interviews.participants': '参与者',
  'interviews.rsvp': '回复',
  'interviews.role': '角色',
  'interviews.wecom': '企业微信',
  'interviews.reminders': '提醒',
  'interviews.lead': '提前量',
  'interviews.due': '计划时间',
  'interviews.state': '状态',
  'interviews.messages': '相关消息',
  'interviews.unreachable': '将无法触达',
  'interviews.room': '面试间',
  'interviews.duration': '{minutes} 分钟',
  'interviews.leadBefore': '提前 {minutes} 分钟',
  'interviews.leadAfter': '结束后 {minutes} 分钟',

  'settings.title': '设置',
  'settings.reminders': '提醒提前量',
  'settings.remindersHelp':
    '面试开始前的分钟数，用逗号分隔（例如 15, 1440 表示提前 15 分钟和 1 天）。',
  'settings.quiet': '免打扰时段',
  'settings.quietOn': '免打扰时段内暂缓非紧急消息',
  'settings.quietStart': '开始',
  'settings.quietEnd': '结束',
  'settings.quietHelp': '按各面试的时区计算。时段内开始的面试的相关消息会立即发送。',
  'settings.language': '消息的默认语言',
  'settings.nudge': '反馈提醒',
  'settings.nudgeOn': '提醒面试官填写反馈',
  'settings.nudgeMin': '面试结束后多少分钟',
  'settings.notNumbers': '请填写用逗号分隔的整数',

  'audit.title': '审计日志',
  'audit.intro': '谁在何时修改了配置，改了哪些字段（不记录值）。',
  'audit.at': '时间',
  'audit.actor': '操作人',
  'audit.action': '操作',
  'audit.fields': '字段',
  'audit.outcome': '结果',
  'audit.detail': '详情',
  'audit.version': '版本',
};

export type Language = 'zh-CN' | 'en';
const DICTIONARIES: Record<Language, Record<MessageKey, string>> = { en, 'zh-CN': zh };
const STORAGE_KEY = 'console.language';

/** The saved choice, else the browser's: Chinese for any zh-*, English otherwise. */
export function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === 'zh-CN' || saved === 'en') return saved;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    if (/^zh\b/i.test(tag)) return 'zh-CN';
    if (/^en\b/i.test(tag)) return 'en';
  }
  return 'en';
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

interface I18n {
  language: Language;
  setLanguage: (language: Language) => void;
  t: Translate;
  /** A time in the reader's zone and language. */
  time: (iso: string | null | undefined) => string;
}

const I18nContext = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(() => {
    const l = initialLanguage();
    document.documentElement.lang = l;
    return l;
  });
  const setLanguage = useCallback((l: Language) => {
    localStorage.setItem(STORAGE_KEY, l);
    document.documentElement.lang = l;
    setLanguageState(l);
  }, []);
  const value = useMemo<I18n>(() => {
    const dict = DICTIONARIES[language];
    const format = new Intl.DateTimeFormat(language, {
      dateStyle: 'medium',
      timeStyle: 'medium',
    });
    return {
      language,
      setLanguage,
      t: (key, vars) =>
        dict[key].replace(/\{(\w+)\}/g, (m, name: string) =>
          vars && name in vars ? String(vars[name]) : m,
        ),
      time: (iso) => (iso ? format.format(new Date(iso)) : '—'),
    };
  }, [language, setLanguage]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}
