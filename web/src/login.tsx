/** The login form, and the "Sign in with …" link when the hub has SSO (PROTOCOL.md §17). */
import { login, loginError } from './session.js';

const ssoName = document.querySelector<HTMLMetaElement>('meta[name=hub-sso]')?.content ?? '';

export function Login() {
  const submit = (e: SubmitEvent): void => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    void login(String(form.get('username') ?? ''), String(form.get('password') ?? ''));
  };
  return (
    <section class="login">
      <form id="login" onSubmit={submit}>
        <input name="username" placeholder="username" autocomplete="username" required aria-label="username" />
        <input name="password" type="password" placeholder="password" autocomplete="current-password" required aria-label="password" />
        <button>Log in</button>
      </form>
      {ssoName !== '' && (
        <p id="sso">
          <a class="sso button" href="/api/auth/sso/login">Sign in with {ssoName}</a>
        </p>
      )}
      <p id="message" class={loginError.value === '' ? '' : 'error'}>{loginError.value}</p>
    </section>
  );
}
