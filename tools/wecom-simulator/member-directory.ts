import { readFileSync } from 'node:fs';

export interface SimulatedUser {
  userid: string;
  name: string;
  mobile?: string;
  email?: string;
  /** Members without an API licence are reported in `unlicenseduser` and receive nothing. */
  licensed?: boolean;
  /** 1 active, 2 disabled, 4 not activated, 5 left. */
  status?: number;
  /**
   * Inside the app's visible range (可见范围). Outside it, sends list the member in
   * `invaliduser` and user/get answers 60011.
   */
  inRange?: boolean;
}

export const DEFAULT_USERS: readonly SimulatedUser[] = [
  { userid: 'zhangsan', name: '张三', mobile: '13800000001', email: 'zhangsan@example.com' },
  { userid: 'lisi', name: '李四', mobile: '13800000002', email: 'lisi@example.com' },
  { userid: 'wangwu', name: '王五', mobile: '13800000003', email: 'wangwu@example.com' },
  { userid: 'zhaoliu', name: '赵六', mobile: '13800000004', email: 'zhaoliu@example.com' },
  {
    userid: 'sunqi',
    name: '孙七',
    mobile: '13800000005',
    email: 'sunqi@example.com',
    licensed: false,
  },
];

/** The only department the simulator knows: the root, holding every member. */
export const ROOT_DEPARTMENT = '1';

const USERID_PATTERN = /^[0-9A-Za-z_\-@.]{1,64}$/;
const STATUSES = new Set([1, 2, 4, 5]);

export class UserValidationError extends Error {}

/** Checks a list of members from the control API or a users file; throws a one-line reason. */
export function validateUsers(input: unknown): SimulatedUser[] {
  if (!Array.isArray(input)) throw new UserValidationError('expected a JSON array of users');
  return input.map((raw: unknown, index) => {
    const where = `users[${index}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new UserValidationError(`${where} must be an object`);
    }
    const u = raw as Record<string, unknown>;
    if (typeof u.userid !== 'string' || !USERID_PATTERN.test(u.userid)) {
      throw new UserValidationError(`${where}.userid must be 1-64 characters of [0-9A-Za-z_-@.]`);
    }
    if (typeof u.name !== 'string' || u.name.length === 0 || u.name.length > 64) {
      throw new UserValidationError(`${where}.name must be a string of 1-64 characters`);
    }
    for (const key of ['mobile', 'email'] as const) {
      if (u[key] !== undefined && (typeof u[key] !== 'string' || u[key].length === 0)) {
        throw new UserValidationError(`${where}.${key} must be a non-empty string`);
      }
    }
    if (u.licensed !== undefined && typeof u.licensed !== 'boolean') {
      throw new UserValidationError(`${where}.licensed must be a boolean`);
    }
    if (u.inRange !== undefined && typeof u.inRange !== 'boolean') {
      throw new UserValidationError(`${where}.inRange must be a boolean`);
    }
    if (u.status !== undefined && !STATUSES.has(u.status as number)) {
      throw new UserValidationError(`${where}.status must be one of 1, 2, 4, 5`);
    }
    return {
      userid: u.userid,
      name: u.name,
      mobile: u.mobile as string | undefined,
      email: u.email as string | undefined,
      licensed: (u.licensed as boolean | undefined) ?? true,
      status: (u.status as number | undefined) ?? 1,
      inRange: (u.inRange as boolean | undefined) ?? true,
    };
  });
}

/** Reads a JSON array of members, e.g. for SIMULATOR_USERS_FILE. */
export function loadUsersFile(path: string): SimulatedUser[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read users file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`Users file ${path} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return validateUsers(parsed);
  } catch (error) {
    throw new Error(`Users file ${path} is invalid: ${(error as Error).message}`, { cause: error });
  }
}

export interface Recipients {
  /** Lower-cased userids of the members who should get the message. */
  members: string[];
  invalidUsers: string[];
  invalidParties: string[];
  invalidTags: string[];
  unlicensed: string[];
}

type Member = SimulatedUser & { licensed: boolean; status: number; inRange: boolean };

/** Members keyed by lower-cased userid, as WeCom compares userids case-insensitively. */
export class MemberDirectory {
  private readonly byId = new Map<string, Member>();
  private readonly byMobile = new Map<string, string>();
  private readonly byEmail = new Map<string, string>();

  constructor(users: readonly SimulatedUser[]) {
    this.add(users);
  }

  add(users: readonly SimulatedUser[]): void {
    for (const user of users) {
      const key = user.userid.toLowerCase();
      this.remove(key);
      this.byId.set(key, {
        ...user,
        licensed: user.licensed ?? true,
        status: user.status ?? 1,
        inRange: user.inRange ?? true,
      });
      if (user.mobile) this.byMobile.set(user.mobile, key);
      if (user.email) this.byEmail.set(user.email.toLowerCase(), key);
    }
  }

  get size(): number {
    return this.byId.size;
  }

  reset(users: readonly SimulatedUser[]): void {
    this.byId.clear();
    this.byMobile.clear();
    this.byEmail.clear();
    this.add(users);
  }

  get(userid: string): SimulatedUser | undefined {
    return this.byId.get(userid.toLowerCase());
  }

  findByMobile(mobile: string): SimulatedUser | undefined {
    const key = this.byMobile.get(mobile);
    return key === undefined ? undefined : this.byId.get(key);
  }

  findByEmail(email: string): SimulatedUser | undefined {
    const key = this.byEmail.get(email.toLowerCase());
    return key === undefined ? undefined : this.byId.get(key);
  }

  /**
   * Splits the requested recipients the way WeCom reports them. Disabled (2) and departed (5)
   * members and members outside the app's visible range count as invalid (WeCom does not say
   * which); not-yet-activated members (4) still receive.
   */
  resolve(
    users: readonly string[],
    parties: readonly string[],
    tags: readonly string[],
  ): Recipients {
    const members = new Set<string>();
    const invalidUsers: string[] = [];
    const unlicensed: string[] = [];
    const invalidParties: string[] = [];
    const addEveryone = (): void => {
      for (const [key, user] of this.byId) {
        if (user.licensed && this.isReachable(user)) members.add(key);
      }
    };
    for (const id of users) {
      if (id === '@all') {
        addEveryone();
        continue;
      }
      const user = this.byId.get(id);
      if (!user || !this.isReachable(user)) invalidUsers.push(id);
      else if (!user.licensed) unlicensed.push(id);
      else members.add(id);
    }
    for (const party of parties) {
      if (party === ROOT_DEPARTMENT) addEveryone();
      else invalidParties.push(party);
    }
    // No tags exist in the simulated corp.
    return {
      members: [...members],
      invalidUsers,
      invalidParties,
      invalidTags: [...tags],
      unlicensed,
    };
  }

  /** The member leaves the corp (or is removed): false when there was no such member. */
  delete(userid: string): boolean {
    if (!this.byId.has(userid.toLowerCase())) return false;
    this.remove(userid.toLowerCase());
    return true;
  }

  /**
   * An admin changes the member's userid (WeCom allows it once per member). Returns the member
   * under the new id; throws UserValidationError for an unknown member or a taken or bad id.
   */
  rename(userid: string, newUserid: string): SimulatedUser {
    const user = this.get(userid);
    if (!user) throw new UserValidationError(`unknown userid: ${userid}`);
    if (typeof newUserid !== 'string' || !USERID_PATTERN.test(newUserid)) {
      throw new UserValidationError('newUserid must be 1-64 characters of [0-9A-Za-z_-@.]');
    }
    if (newUserid.toLowerCase() === userid.toLowerCase()) {
      throw new UserValidationError('newUserid is the current userid');
    }
    if (this.get(newUserid)) throw new UserValidationError(`userid ${newUserid} is taken`);
    this.remove(userid.toLowerCase());
    const renamed = { ...user, userid: newUserid };
    this.add([renamed]);
    return renamed;
  }

  /** 1 active, 2 disabled, 4 not activated, 5 left; throws for an unknown member or status. */
  setStatus(userid: string, status: number): SimulatedUser {
    const member = this.byId.get(userid.toLowerCase());
    if (!member) throw new UserValidationError(`unknown userid: ${userid}`);
    if (!STATUSES.has(status)) throw new UserValidationError('status must be one of 1, 2, 4, 5');
    member.status = status;
    return member;
  }

  private isReachable(user: SimulatedUser): boolean {
    return user.inRange !== false && (user.status === 1 || user.status === 4);
  }

  private remove(key: string): void {
    const old = this.byId.get(key);
    if (!old) return;
    if (old.mobile && this.byMobile.get(old.mobile) === key) this.byMobile.delete(old.mobile);
    const email = old.email?.toLowerCase();
    if (email && this.byEmail.get(email) === key) this.byEmail.delete(email);
    this.byId.delete(key);
  }
}
