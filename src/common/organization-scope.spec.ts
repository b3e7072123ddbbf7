import { organizationScope, type OrganizationScope } from './organization-scope.js';
import { currentRequestId, requestContext } from './request-context.js';

describe('organizationScope', () => {
  const acme: OrganizationScope = { id: '0b7c7c52-6d1c-4a5e-9d0e-3f4b1a2c5d6e', slug: 'acme' };
  const globex: OrganizationScope = { id: '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b', slug: 'globex' };
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it('is unset outside run, and carries the organisation through awaits inside it', async () => {
    expect(organizationScope.get()).toBeUndefined();
    const seen = await organizationScope.run(acme, async () => {
      await tick();
      return organizationScope.get();
    });
    expect(seen).toEqual(acme);
    expect(organizationScope.get()).toBeUndefined();
  });

  it('lives beside the request id: setting one leaves the other as it was', async () => {
    await requestContext.run({ requestId: 'r-1' }, () =>
      organizationScope.run(acme, async () => {
        await tick();
        expect([currentRequestId(), organizationScope.get()?.slug]).toEqual(['r-1', 'acme']);
        await requestContext.run({ requestId: 'r-2' }, async () => {
          expect([currentRequestId(), organizationScope.get()?.slug]).toEqual(['r-2', 'acme']);
        });
      }),
    );
  });

  it('concurrent work for different organisations does not see each other', async () => {
    const seen = await Promise.all(
      [acme, globex].map((scope) =>
        organizationScope.run(scope, async () => {
          await tick();
          return organizationScope.get()?.slug;
        }),
      ),
    );
    expect(seen).toEqual(['acme', 'globex']);
  });
});
