// What a client team writes first, through the TypeScript SDK generated from the contract:
// sign up, log in, read /me, and handle a 409 and a 401. Usage: tsx main.ts BASE_URL EMAIL
//
// tests/contract/test_sdks.py copies this file beside the freshly generated client (./client),
// type-checks it with tsc --strict and runs it with tsx; any surprise exits non-zero.
import { createClient } from './client/client';
import { getMe, logIn, signUp, type Problem, type User } from './client';

const PASSWORD = 'typescript sdk password';

function check(condition: boolean, message: string): asserts condition {
  if (!condition) {
    throw new Error(message);
  }
}

function problemCode(error: Problem | undefined): string | undefined {
  return error?.code;
}

async function main(baseUrl: string, email: string): Promise<void> {
  const client = createClient({ baseUrl });

  const created = await signUp({
    client,
    body: { email, password: PASSWORD, user_metadata: { sdk: 'typescript' } },
  });
  check(created.response.status === 201 && created.data !== undefined, `signUp: ${created.response.status}`);
  const user: User = created.data;
  check(user.email === email && user.user_metadata['sdk'] === 'typescript', 'signUp returned another user');

  const duplicate = await signUp({ client, body: { email, password: 'other password' } });
  check(duplicate.response.status === 409, `duplicate signUp: ${duplicate.response.status}`);
  check(problemCode(duplicate.error) === 'email_exists', 'duplicate signUp: not email_exists');

  const tokens = await logIn({ client, body: { email, password: PASSWORD } });
  check(tokens.data !== undefined, `logIn: ${tokens.response.status}`);
  check(tokens.data.token_type === 'bearer' && tokens.data.user.id === user.id, 'logIn: wrong grant');

  const authenticated = createClient({ baseUrl, auth: tokens.data.access_token });
  const me = await getMe({ client: authenticated });
  check(me.data !== undefined, `getMe: ${me.response.status}`);
  check(me.data.id === user.id && me.data.email === email, 'getMe: another user');

  const anonymous = await getMe({ client });
  check(anonymous.response.status === 401, `anonymous getMe: ${anonymous.response.status}`);
  check(problemCode(anonymous.error) === 'invalid_token', 'anonymous getMe: not invalid_token');
  check(anonymous.response.headers.get('www-authenticate')?.startsWith('Bearer') === true, 'no WWW-Authenticate');
  console.log(`typescript sdk ok: ${me.data.email}`);
}

const [baseUrl, email] = process.argv.slice(2);
if (baseUrl === undefined || email === undefined) {
  throw new Error('usage: typescript_client.ts BASE_URL EMAIL');
}
await main(baseUrl, email);
