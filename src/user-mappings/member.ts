// What other modules may know of a mapping: its vocabulary and the answer of
// UserMappingsService.membersOf. The table itself (user-mapping.entity.ts) is the module's own.

export const MAPPING_SOURCES = ['admin', 'oauth', 'mobile', 'email'] as const;
export type MappingSource = (typeof MAPPING_SOURCES)[number];
/** `left`: removed from or left the corp; `disabled`: disabled by an admin (WeCom status 2). */
export const MAPPING_STATUSES = ['active', 'disabled', 'left'] as const;
export type MappingStatus = (typeof MAPPING_STATUSES)[number];
export const LANGUAGES = ['zh', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

/** A platform user's WeCom member, as other modules see it. */
export interface MemberMapping {
  platformUserId: string;
  wecomUserId: string;
  status: MappingStatus;
  language: Language;
}

/**
 * UserMappingsService.lookupMembers: what a sender needs to address people of one corp, named
 * either by platform user id or by WeCom userid.
 */
export interface MemberLookup {
  /** The mappings of the platform users asked about, by platform user id (unmapped: absent). */
  members: Map<string, MemberMapping>;
  /** Of the WeCom userids asked about, the lower-cased ones whose mapping is not active. */
  inactive: Set<string>;
}

/**
 * The mappings of some platform users of one corp as a transaction read them (UserMappingsService
 * .membersOf), kept so that its later steps (a booking's languages, its messages' recipients, its
 * answer's reachability) need not read them again.
 */
export interface MembersRead {
  corpId: string;
  /** The platform users asked about: those of them absent from `members` have no mapping. */
  asked: ReadonlySet<string>;
  members: Map<string, MemberMapping>;
}

/** Whether `read` answers for every one of these platform users of `corpId`. */
export function answersFor(
  read: MembersRead | undefined,
  corpId: string,
  platformUserIds: Iterable<string>,
): read is MembersRead {
  if (!read || read.corpId !== corpId) return false;
  for (const id of platformUserIds) if (!read.asked.has(id)) return false;
  return true;
}

/**
 * A member's mapping followed their new WeCom userid (a contact event). Published inside the
 * transaction that renamed it, so that work addressed to the old userid follows in the same
 * commit; a listener that fails rolls the rename back.
 */
export class MemberRenamedEvent {
  static readonly key = 'user-mappings.member-renamed';

  constructor(
    readonly corpId: string,
    readonly oldWecomUserId: string,
    readonly newWecomUserId: string,
  ) {}
}
