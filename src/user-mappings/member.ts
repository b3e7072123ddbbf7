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
