// diemcau site console: plain JS, no build step. Served under CSP default-src 'self'.
'use strict';

(() => {
  // ---------------------------------------------------------------- strings

  const STRINGS = {
    vi: {
      'app.title': 'Bảng điều khiển điểm cầu',
      'app.loading': 'Đang tải…',
      'lang.switch': 'VI | EN: đang dùng tiếng Việt, bấm để chuyển sang tiếng Anh (English)',
      'common.close': 'Đóng',
      'common.refresh': 'Làm mới',
      'common.save': 'Lưu',
      'common.cancel': 'Huỷ',
      'common.none': '—',

      'login.heading': 'Đăng nhập',
      'login.intro': 'Đăng nhập để điều khiển điểm cầu này.',
      'login.submit': 'Đăng nhập',

      'setup.heading': 'Tạo tài khoản quản trị đầu tiên',
      'setup.intro': 'Đây là lần khởi động đầu tiên của điểm cầu. Hãy tạo tài khoản quản trị để bắt đầu sử dụng.',
      'setup.token': 'Mã thiết lập một lần',
      'setup.tokenHint': 'Mã này được in ra trong cửa sổ dòng lệnh khi máy chủ khởi động, và được lưu trong tệp setup-token ở thư mục dữ liệu.',
      'setup.submit': 'Tạo tài khoản quản trị',
      'setup.done': 'Đã tạo tài khoản quản trị. Mời đăng nhập.',

      'field.username': 'Tên đăng nhập',
      'field.password': 'Mật khẩu',
      'field.passwordAgain': 'Nhập lại mật khẩu',
      'field.role': 'Vai trò',
      'field.currentPassword': 'Mật khẩu hiện tại',
      'field.newPassword': 'Mật khẩu mới',
      'field.newPasswordAgain': 'Nhập lại mật khẩu mới',

      'header.changePassword': 'Đổi mật khẩu',
      'header.logout': 'Đăng xuất',

      'nav.label': 'Các mục chức năng',
      'nav.overview': 'Tổng quan',
      'nav.devices': 'Thiết bị',
      'nav.sessions': 'Phiên họp',
      'nav.incidents': 'Sự cố',
      'nav.reports': 'Báo cáo',
      'nav.audit': 'Nhật ký',
      'nav.accounts': 'Tài khoản',

      'placeholder.notEnabled': 'Chức năng này chưa được bật tại điểm cầu này.',

      'heading.overview': 'Tổng quan điểm cầu',
      'heading.audit': 'Nhật ký hoạt động',
      'heading.accounts': 'Tài khoản người dùng',

      'level.central': 'Trung ương',
      'level.province': 'Tỉnh/Thành phố',
      'level.district': 'Huyện',
      'level.commune': 'Xã/Phường',

      'role.admin': 'Quản trị',
      'role.operator': 'Vận hành',
      'role.chair': 'Chủ trì',
      'role.viewer': 'Xem',
      'role.auditor': 'Kiểm toán',

      'state.connected': 'Đã kết nối',
      'state.online': 'Đã kết nối',
      'state.up': 'Đã kết nối',
      'state.connecting': 'Đang kết nối',
      'state.reconnecting': 'Đang kết nối lại',
      'state.disconnected': 'Mất kết nối',
      'state.offline': 'Mất kết nối',
      'state.down': 'Mất kết nối',
      'state.never': 'Chưa kết nối lần nào',
      'state.unknown': 'Chưa rõ',
      'state.not_configured': 'Chưa cấu hình',

      'overview.id': 'Mã điểm cầu',
      'overview.name': 'Tên điểm cầu',
      'overview.level': 'Cấp',
      'overview.version': 'Phiên bản phần mềm',
      'overview.uplink': 'Kết nối lên cấp trên',
      'overview.uplinkNone': 'Không có (điểm cầu cấp cao nhất)',
      'overview.devices': 'Số thiết bị',
      'overview.children': 'Điểm cầu cấp dưới',
      'overview.col.id': 'Mã',
      'overview.col.name': 'Tên',
      'overview.col.state': 'Trạng thái',
      'overview.noChildren': 'Chưa có điểm cầu cấp dưới nào.',

      'audit.filterLabel': 'Lọc theo loại hành động',
      'audit.filterHint': 'Gõ phần đầu của mã hành động, ví dụ “login” hoặc “user”.',
      'audit.filter': 'Lọc',
      'audit.clear': 'Bỏ lọc',
      'audit.more': 'Xem thêm',
      'audit.empty': 'Không có mục nhật ký nào.',
      'audit.timeNote': 'Thời gian hiển thị theo giờ của máy tính này.',
      'audit.col.time': 'Thời gian',
      'audit.col.actor': 'Người thực hiện',
      'audit.col.origin': 'Điểm cầu gốc',
      'audit.col.action': 'Hành động',
      'audit.col.target': 'Đối tượng',
      'audit.col.result': 'Kết quả',
      'action.login.success': 'Đăng nhập',
      'action.login.failure': 'Đăng nhập không thành công',
      'action.logout': 'Đăng xuất',
      'action.session.expired': 'Phiên làm việc hết hạn',
      'action.access.denied': 'Từ chối truy cập',
      'action.setup.admin': 'Tạo tài khoản quản trị đầu tiên',
      'action.user.add': 'Thêm tài khoản',
      'action.user.passwd': 'Đổi mật khẩu',
      'action.user.role': 'Đổi vai trò',
      'action.user.disable': 'Vô hiệu hoá tài khoản',
      'action.user.enable': 'Kích hoạt tài khoản',
      'action.user.lock': 'Khoá tài khoản',
      'action.user.unlock': 'Mở khoá tài khoản',
      'result.ok': 'Thành công',
      'result.success': 'Thành công',
      'result.failure': 'Không thành công',
      'result.failed': 'Không thành công',
      'result.error': 'Lỗi',
      'result.denied': 'Bị từ chối',

      'users.addHeading': 'Thêm tài khoản',
      'users.add': 'Thêm',
      'users.col.status': 'Trạng thái',
      'users.col.failed': 'Đăng nhập sai',
      'users.col.created': 'Ngày tạo',
      'users.col.actions': 'Thao tác',
      'users.you': '(bạn)',
      'users.active': 'Đang hoạt động',
      'users.disabled': 'Đã vô hiệu hoá',
      'users.lockedUntil': 'Bị khoá đến {time}',
      'users.unlock': 'Mở khoá',
      'users.disable': 'Vô hiệu hoá',
      'users.enable': 'Kích hoạt',
      'users.setPassword': 'Đặt mật khẩu',
      'users.roleOf': 'Vai trò của {user}',
      'users.setPasswordTitle': 'Đặt mật khẩu mới cho {user}',
      'users.added': 'Đã thêm tài khoản {user}.',
      'users.unlocked': 'Đã mở khoá tài khoản {user}.',
      'users.disabledDone': 'Đã vô hiệu hoá tài khoản {user}.',
      'users.enabledDone': 'Đã kích hoạt tài khoản {user}.',
      'users.roleChanged': 'Đã đổi vai trò của {user} thành “{role}”.',
      'users.passwordSet': 'Đã đặt mật khẩu mới cho {user}.',

      'msg.passwordChanged': 'Đã đổi mật khẩu. Vui lòng đăng nhập lại bằng mật khẩu mới.',
      'msg.loggedOut': 'Bạn đã đăng xuất.',
      'msg.sessionExpired': 'Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.',
      'err.network': 'Không kết nối được tới máy chủ điểm cầu. Vui lòng kiểm tra mạng rồi thử lại.',
      'err.http': 'Máy chủ báo lỗi (mã {status}). Vui lòng thử lại sau.',
      'err.passwordMismatch': 'Hai lần nhập mật khẩu không giống nhau.',
      'err.required': 'Vui lòng điền đủ các ô.',
    },
    en: {
      'app.title': 'Site console',
      'app.loading': 'Loading…',
      'lang.switch': 'VI | EN: English in use, press to switch to Vietnamese (tiếng Việt)',
      'common.close': 'Close',
      'common.refresh': 'Refresh',
      'common.save': 'Save',
      'common.cancel': 'Cancel',
      'common.none': '—',

      'login.heading': 'Sign in',
      'login.intro': 'Sign in to control this site.',
      'login.submit': 'Sign in',

      'setup.heading': 'Create the first administrator account',
      'setup.intro': 'This is the first start of this site. Create an administrator account to begin.',
      'setup.token': 'One-time setup code',
      'setup.tokenHint': 'The code is printed in the server’s terminal when it starts, and stored in the file setup-token in the data folder.',
      'setup.submit': 'Create administrator account',
      'setup.done': 'Administrator account created. Please sign in.',

      'field.username': 'Username',
      'field.password': 'Password',
      'field.passwordAgain': 'Password again',
      'field.role': 'Role',
      'field.currentPassword': 'Current password',
      'field.newPassword': 'New password',
      'field.newPasswordAgain': 'New password again',

      'header.changePassword': 'Change password',
      'header.logout': 'Sign out',

      'nav.label': 'Sections',
      'nav.overview': 'Overview',
      'nav.devices': 'Devices',
      'nav.sessions': 'Sessions',
      'nav.incidents': 'Incidents',
      'nav.reports': 'Reports',
      'nav.audit': 'Audit log',
      'nav.accounts': 'Accounts',

      'placeholder.notEnabled': 'This function is not enabled at this site yet.',

      'heading.overview': 'Site overview',
      'heading.audit': 'Audit log',
      'heading.accounts': 'User accounts',

      'level.central': 'Central',
      'level.province': 'Province/City',
      'level.district': 'District',
      'level.commune': 'Commune/Ward',

      'role.admin': 'Administrator',
      'role.operator': 'Operator',
      'role.chair': 'Chair',
      'role.viewer': 'Viewer',
      'role.auditor': 'Auditor',

      'state.connected': 'Connected',
      'state.online': 'Connected',
      'state.up': 'Connected',
      'state.connecting': 'Connecting',
      'state.reconnecting': 'Reconnecting',
      'state.disconnected': 'Disconnected',
      'state.offline': 'Disconnected',
      'state.down': 'Disconnected',
      'state.never': 'Never connected',
      'state.unknown': 'Unknown',
      'state.not_configured': 'Not configured',

      'overview.id': 'Site ID',
      'overview.name': 'Site name',
      'overview.level': 'Level',
      'overview.version': 'Software version',
      'overview.uplink': 'Link to parent site',
      'overview.uplinkNone': 'None (top of the tree)',
      'overview.devices': 'Devices',
      'overview.children': 'Child sites',
      'overview.col.id': 'ID',
      'overview.col.name': 'Name',
      'overview.col.state': 'State',
      'overview.noChildren': 'No child sites.',

      'audit.filterLabel': 'Filter by action',
      'audit.filterHint': 'Type the start of the action code, for example “login” or “user”.',
      'audit.filter': 'Filter',
      'audit.clear': 'Clear filter',
      'audit.more': 'Show more',
      'audit.empty': 'No audit entries.',
      'audit.timeNote': 'Times are shown in this computer’s local time.',
      'audit.col.time': 'Time',
      'audit.col.actor': 'User',
      'audit.col.origin': 'Origin site',
      'audit.col.action': 'Action',
      'audit.col.target': 'Target',
      'audit.col.result': 'Result',
      'action.login.success': 'Signed in',
      'action.login.failure': 'Failed sign-in',
      'action.logout': 'Signed out',
      'action.session.expired': 'Session expired',
      'action.access.denied': 'Access denied',
      'action.setup.admin': 'First administrator created',
      'action.user.add': 'Account added',
      'action.user.passwd': 'Password changed',
      'action.user.role': 'Role changed',
      'action.user.disable': 'Account disabled',
      'action.user.enable': 'Account enabled',
      'action.user.lock': 'Account locked',
      'action.user.unlock': 'Account unlocked',
      'result.ok': 'Success',
      'result.success': 'Success',
      'result.failure': 'Failed',
      'result.failed': 'Failed',
      'result.error': 'Error',
      'result.denied': 'Denied',

      'users.addHeading': 'Add an account',
      'users.add': 'Add',
      'users.col.status': 'Status',
      'users.col.failed': 'Failed sign-ins',
      'users.col.created': 'Created',
      'users.col.actions': 'Actions',
      'users.you': '(you)',
      'users.active': 'Active',
      'users.disabled': 'Disabled',
      'users.lockedUntil': 'Locked until {time}',
      'users.unlock': 'Unlock',
      'users.disable': 'Disable',
      'users.enable': 'Enable',
      'users.setPassword': 'Set password',
      'users.roleOf': 'Role of {user}',
      'users.setPasswordTitle': 'Set a new password for {user}',
      'users.added': 'Account {user} added.',
      'users.unlocked': 'Account {user} unlocked.',
      'users.disabledDone': 'Account {user} disabled.',
      'users.enabledDone': 'Account {user} enabled.',
      'users.roleChanged': 'Role of {user} changed to “{role}”.',
      'users.passwordSet': 'New password set for {user}.',

      'msg.passwordChanged': 'Your password has been changed. Please sign in again with the new password.',
      'msg.loggedOut': 'You have signed out.',
      'msg.sessionExpired': 'Your session has expired, please sign in again.',
      'err.network': 'Cannot reach the site controller. Please check the network and try again.',
      'err.http': 'The server reported an error (code {status}). Please try again later.',
      'err.passwordMismatch': 'The two passwords are not the same.',
      'err.required': 'Please fill in every field.',
    },
  };

  const LANGS = ['vi', 'en'];
  const LANG_KEY = 'diemcau.lang';
  const ROLES = ['admin', 'operator', 'chair', 'viewer', 'auditor'];
  // Sections in nav order; `roles` limits who sees one (the server enforces it too).
  const SECTIONS = [
    { id: 'overview', load: () => loadSite() },
    { id: 'devices' },
    { id: 'sessions' },
    { id: 'incidents' },
    { id: 'reports' },
    { id: 'audit', roles: ['admin', 'auditor'], load: () => loadAudit(false) },
    { id: 'accounts', roles: ['admin'], load: () => loadUsers() },
  ];
  const AUDIT_PAGE_SIZE = 50;
  // 401 codes that mean "no valid session" (as opposed to a wrong password in the request).
  const SESSION_CODES = new Set(['not_authenticated', 'session_expired']);
  // Check the session a little after the server's idle timeout would have ended it.
  const IDLE_GRACE_MS = 2000;

  const state = {
    lang: readLang(),
    user: null,
    epoch: 0, // bumped when a session ends, so late answers for it are dropped
    csrf: null,
    idleSeconds: 900,
    idleTimer: null,
    section: null,
    site: null,
    audit: { entries: [], next: null, action: '', seq: 0, loaded: false },
    users: [],
    setPasswordFor: null,
  };

  const $ = (id) => document.getElementById(id);

  function t(key, params) {
    let s = STRINGS[state.lang][key];
    if (s === undefined) s = STRINGS.vi[key];
    if (s === undefined) return key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
    return s;
  }

  // A translated label for a code, or the code itself when it has none.
  function label(prefix, code) {
    if (code === null || code === undefined || code === '') return t('common.none');
    const key = prefix + '.' + code;
    return key in STRINGS.vi ? t(key) : String(code);
  }

  function readLang() {
    try {
      const v = window.localStorage.getItem(LANG_KEY);
      if (LANGS.includes(v)) return v;
    } catch (e) { /* storage blocked: use the default */ }
    return 'vi';
  }

  function setLang(lang) {
    state.lang = lang;
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* not kept */ }
    applyLanguage();
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t('app.title');
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll('[data-i18n-aria-label]')) {
      node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel));
    }
    const toggle = $('lang-toggle');
    toggle.setAttribute('aria-label', t('lang.switch'));
    toggle.title = t('lang.switch');
    for (const opt of toggle.querySelectorAll('.lang-opt')) {
      opt.classList.toggle('active', opt.dataset.lang === state.lang);
    }
    for (const sel of document.querySelectorAll('select[data-roles]')) fillRoleSelect(sel, sel.value);
    // Re-render what came from the server in the new language.
    renderHeader();
    if (state.site) renderSite();
    if (state.user) {
      renderAudit();
      renderUsers();
    }
    if (state.setPasswordFor) {
      $('dlg-set-password-title').textContent = t('users.setPasswordTitle', { user: state.setPasswordFor });
    }
  }

  // ---------------------------------------------------------------- formatting

  const pad2 = (n) => String(n).padStart(2, '0');

  function parseTime(iso) {
    if (!iso) return null;
    let s = String(iso);
    // The server writes UTC; a timestamp without a zone is UTC too, not local time.
    if (/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s)) s += 'Z';
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  // Local time as dd/mm/yyyy HH:MM:SS, the order people read in Vietnam.
  function formatTime(iso) {
    const d = parseTime(iso);
    if (!d) return iso ? String(iso) : t('common.none');
    return `${pad2(d.getDate())}/${pad2(d.getMonth() + 1)}/${d.getFullYear()} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  function el(tag, opts, children) {
    const node = document.createElement(tag);
    if (opts) {
      for (const [k, v] of Object.entries(opts)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'text') node.textContent = v;
        else if (k === 'className') node.className = v;
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else node.setAttribute(k, v === true ? '' : v);
      }
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function timeCell(iso, className) {
    const d = parseTime(iso);
    return el('td', { className }, [el('time', { datetime: d ? d.toISOString() : undefined, text: formatTime(iso) })]);
  }

  function fillRoleSelect(select, value) {
    const current = value || select.value || 'viewer';
    select.replaceChildren(...ROLES.map((r) => el('option', { value: r, text: t('role.' + r) })));
    select.value = ROLES.includes(current) ? current : 'viewer';
  }

  // ---------------------------------------------------------------- messages

  function showError(message) {
    $('alert').textContent = message;
    $('alert-box').hidden = false;
    $('notice').hidden = true;
  }

  function showNotice(message) {
    $('notice').textContent = message;
    $('notice').hidden = false;
    clearError();
  }

  function clearError() {
    $('alert').textContent = '';
    $('alert-box').hidden = true;
  }

  function clearMessages() {
    clearError();
    $('notice').textContent = '';
    $('notice').hidden = true;
  }

  // Shows an API failure where the user is looking; an expired session was already handled.
  function reportError(err, where) {
    if (err instanceof ApiError && err.handled) return;
    const message = err instanceof ApiError ? err.message : t('err.http', { status: '?' });
    if (!(err instanceof ApiError)) console.error(err);
    if (where) where.textContent = message;
    else showError(message);
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
      this.handled = false;
    }
  }

  // opts.session: false for calls made without a session (login, setup, first /me);
  // opts.credentialCheck: a 401 may be about a password in the request, not the session.
  async function api(method, path, body, opts = {}) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && method !== 'HEAD' && state.csrf) init.headers['X-CSRF-Token'] = state.csrf;

    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', t('err.network'));
    }
    let data = null;
    if ((res.headers.get('Content-Type') || '').includes('json')) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    const sessionCall = opts.session !== false && state.user !== null;
    if (res.ok) {
      if (sessionCall) scheduleIdleCheck();
      return data || {};
    }
    const info = data && data.error && typeof data.error === 'object' ? data.error : {};
    const message = typeof info.message === 'string' && info.message
      ? info.message : t('err.http', { status: res.status });
    const err = new ApiError(res.status, typeof info.code === 'string' ? info.code : '', message);
    if (res.status === 401 && sessionCall && (!opts.credentialCheck || SESSION_CODES.has(err.code))) {
      err.handled = true;
      sessionExpired();
    }
    throw err;
  }

  // ---------------------------------------------------------------- session

  function scheduleIdleCheck() {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(checkIdle, state.idleSeconds * 1000 + IDLE_GRACE_MS);
  }

  // This page made no request for the whole idle timeout, so the server has likely ended the
  // session; ask it (another tab may have kept the session alive).
  async function checkIdle() {
    if (!state.user) return;
    try {
      const me = await api('GET', '/api/v1/me');
      acceptSession(me);
    } catch (err) {
      if (!err.handled) scheduleIdleCheck();
    }
  }

  function acceptSession(body) {
    state.user = { username: String(body.user.username), role: String(body.user.role) };
    state.csrf = body.csrf_token || null;
    const idle = Number(body.idle_timeout_seconds);
    state.idleSeconds = Number.isFinite(idle) && idle > 0 ? idle : 900;
    scheduleIdleCheck();
  }

  function sessionExpired() {
    if (!state.user) return;
    const username = state.user.username;
    leaveShell();
    $('login-username').value = username;
    showError(t('msg.sessionExpired'));
    $('login-password').focus();
  }

  function leaveShell() {
    clearTimeout(state.idleTimer);
    state.epoch += 1;
    state.user = null;
    state.csrf = null;
    state.site = null;
    state.section = null;
    state.audit = { entries: [], next: null, action: '', seq: state.audit.seq + 1, loaded: false };
    state.users = [];
    state.setPasswordFor = null;
    for (const dlg of document.querySelectorAll('dialog')) if (dlg.open) dlg.close();
    for (const id of ['children-body', 'audit-body', 'users-body']) $(id).replaceChildren();
    $('audit-action').value = '';
    $('login-password').value = '';
    clearMessages();
    renderHeader();
    showView('login');
  }

  async function enterShell(body) {
    acceptSession(body);
    clearMessages();
    renderHeader();
    showView('shell');
    applyRoleVisibility();
    route(false);
    if (state.section !== 'overview') loadSite();
  }

  function showView(name) {
    for (const v of ['loading', 'setup', 'login', 'shell']) $('view-' + v).hidden = v !== name;
    const inShell = name === 'shell';
    $('nav').hidden = !inShell;
    $('btn-logout').hidden = !inShell;
    $('btn-change-password').hidden = !inShell;
    $('user-info').hidden = !inShell;
    document.body.dataset.view = name;
  }

  async function showLoginOrSetup() {
    let needed = false;
    try {
      const data = await api('GET', '/api/v1/setup', undefined, { session: false });
      needed = data.needed === true;
    } catch (err) {
      reportError(err);
    }
    showView(needed ? 'setup' : 'login');
    (needed ? $('setup-token') : $('login-username')).focus();
  }

  async function start() {
    applyLanguage();
    bindEvents();
    try {
      const me = await api('GET', '/api/v1/me', undefined, { session: false });
      await enterShell(me);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401) {
        await showLoginOrSetup();
        if (err.code === 'session_expired') showError(t('msg.sessionExpired'));
      } else {
        showView('login');
        reportError(err);
      }
    }
  }

  // ---------------------------------------------------------------- header and navigation

  function renderHeader() {
    const site = state.user ? state.site : null;
    $('site-heading').hidden = !site;
    $('site-name').textContent = site ? String(site.name || site.id || '') : '';
    $('site-level').textContent = site ? label('level', site.level) : '';
    if (state.user) {
      $('user-name').textContent = state.user.username;
      $('user-role').textContent = label('role', state.user.role);
    } else {
      $('user-name').textContent = '';
      $('user-role').textContent = '';
    }
  }

  function allowed(section) {
    return !section.roles || (state.user !== null && section.roles.includes(state.user.role));
  }

  function applyRoleVisibility() {
    for (const section of SECTIONS) {
      $('nav-' + section.id).parentElement.hidden = !allowed(section);
    }
  }

  function route(moveFocus) {
    if (!state.user) return;
    const wanted = location.hash.replace(/^#/, '');
    const section = SECTIONS.find((s) => s.id === wanted && allowed(s)) || SECTIONS[0];
    if (wanted !== section.id) history.replaceState(null, '', '#' + section.id);
    for (const s of SECTIONS) {
      $('section-' + s.id).hidden = s !== section;
      const link = $('nav-' + s.id);
      if (s === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    state.section = section.id;
    clearMessages();
    if (section.load) section.load();
    if (moveFocus) $('h-' + section.id).focus();
  }

  // ---------------------------------------------------------------- overview

  async function loadSite() {
    const epoch = state.epoch;
    try {
      const site = await api('GET', '/api/v1/site');
      if (epoch !== state.epoch) return;
      state.site = site;
      renderHeader();
      renderSite();
    } catch (err) {
      reportError(err);
    }
  }

  function renderUplink(uplink) {
    const dd = $('ov-uplink');
    if (!uplink || !uplink.configured) {
      dd.textContent = t('overview.uplinkNone');
      dd.dataset.state = 'none';
      return;
    }
    dd.replaceChildren(label('state', uplink.state));
    if (uplink.url) dd.append(el('span', { className: 'sub', text: String(uplink.url) }));
    dd.dataset.state = String(uplink.state ?? '');
  }

  function renderSite() {
    const site = state.site;
    if (!site) return;
    $('ov-id').textContent = String(site.id ?? '');
    $('ov-name').textContent = String(site.name ?? '');
    $('ov-level').textContent = label('level', site.level);
    $('ov-version').textContent = String(site.version ?? t('common.none'));
    renderUplink(site.uplink);
    $('ov-devices').textContent = String(site.devices ?? 0);
    const children = Array.isArray(site.children) ? site.children : [];
    $('children-body').replaceChildren(...children.map((c) => el('tr', null, [
      el('td', { text: String(c.id ?? '') }),
      el('td', { text: String(c.name ?? '') }),
      el('td', { className: 'state', dataset: { state: String(c.state ?? '') }, text: label('state', c.state) }),
    ])));
    $('children-table').hidden = children.length === 0;
    $('children-empty').hidden = children.length !== 0;
  }

  // ---------------------------------------------------------------- audit

  async function loadAudit(more) {
    const audit = state.audit;
    const seq = ++audit.seq;
    const params = new URLSearchParams({ limit: String(AUDIT_PAGE_SIZE) });
    if (more && audit.next !== null) params.set('before_id', String(audit.next));
    if (audit.action) params.set('action', audit.action);
    $('audit-more').disabled = true;
    try {
      const data = await api('GET', '/api/v1/audit?' + params.toString());
      if (seq !== state.audit.seq) return; // a newer request replaced this one
      const entries = Array.isArray(data.entries) ? data.entries : [];
      audit.entries = more ? audit.entries.concat(entries) : entries;
      audit.next = data.next_before_id ?? null;
      audit.loaded = true;
      renderAudit();
    } catch (err) {
      if (seq === state.audit.seq) reportError(err);
    } finally {
      $('audit-more').disabled = false;
    }
  }

  function renderAudit() {
    const { entries, next } = state.audit;
    $('audit-body').replaceChildren(...entries.map((e) => {
      const action = String(e.action ?? '');
      const actionKey = 'action.' + action;
      const actionCell = el('td', { className: 'action' });
      if (actionKey in STRINGS.vi) actionCell.append(el('span', { text: t(actionKey) }), ' ');
      actionCell.append(el('code', { text: action }));
      return el('tr', { dataset: { id: String(e.id ?? '') } }, [
        timeCell(e.ts),
        el('td', { text: String(e.actor ?? '') }),
        el('td', { className: 'nowrap', text: String(e.origin_site ?? '') }),
        actionCell,
        el('td', { text: String(e.target ?? '') }),
        el('td', { className: 'result', dataset: { result: String(e.result ?? '') }, text: label('result', e.result) }),
      ]);
    }));
    $('audit-table').hidden = entries.length === 0;
    $('audit-empty').hidden = !state.audit.loaded || entries.length !== 0;
    $('audit-more').hidden = next === null || next === undefined;
  }

  // ---------------------------------------------------------------- accounts

  async function loadUsers() {
    const epoch = state.epoch;
    try {
      const data = await api('GET', '/api/v1/users');
      if (epoch !== state.epoch) return;
      state.users = Array.isArray(data.users) ? data.users : [];
      renderUsers();
    } catch (err) {
      reportError(err);
    }
  }

  function isLocked(user) {
    const until = parseTime(user.locked_until);
    return until !== null && until.getTime() > Date.now();
  }

  function renderUsers() {
    const me = state.user ? state.user.username : null;
    $('users-body').replaceChildren(...state.users.map((u) => {
      const name = String(u.username);
      const self = name === me;
      const locked = isLocked(u);

      const nameCell = el('td', { className: 'username' }, [name]);
      if (self) nameCell.append(' ', el('span', { className: 'muted', text: t('users.you') }));

      const roleSelect = el('select', {
        'aria-label': t('users.roleOf', { user: name }),
        'data-testid': 'user-role-select',
        disabled: self, // changing one's own role from here would lock the admin out
      });
      fillRoleSelect(roleSelect, u.role);
      roleSelect.addEventListener('change', () => changeRole(name, roleSelect));

      const status = [];
      if (u.disabled) status.push(t('users.disabled'));
      if (locked) status.push(t('users.lockedUntil', { time: formatTime(u.locked_until) }));
      if (!status.length) status.push(t('users.active'));

      const buttons = [];
      if (locked) {
        buttons.push(actionButton(t('users.unlock'), 'user-unlock', () => unlockUser(name)));
      }
      // Not on one's own row: disabling oneself locks one out, and one's own password goes
      // through "Đổi mật khẩu", which asks for the current one.
      if (!self) {
        buttons.push(u.disabled
          ? actionButton(t('users.enable'), 'user-enable', () => setDisabled(name, false))
          : actionButton(t('users.disable'), 'user-disable', () => setDisabled(name, true)));
        buttons.push(actionButton(t('users.setPassword'), 'user-set-password', () => openSetPassword(name)));
      }

      return el('tr', { dataset: { username: name }, 'data-testid': 'user-row', className: u.disabled ? 'is-disabled' : '' }, [
        nameCell,
        el('td', null, [roleSelect]),
        el('td', { className: locked || u.disabled ? 'status warn' : 'status', text: status.join(' · ') }),
        el('td', { className: 'num col-minor', text: String(u.failed_logins ?? 0) }),
        timeCell(u.created_at, 'col-minor'),
        el('td', null, [el('div', { className: 'row-actions' }, buttons)]),
      ]);
    }));
  }

  function actionButton(text, testid, onClick) {
    const b = el('button', { type: 'button', className: 'btn btn-small', 'data-testid': testid, text });
    b.addEventListener('click', async () => {
      b.disabled = true;
      try { await onClick(); } finally { b.disabled = false; }
    });
    return b;
  }

  const userPath = (name) => '/api/v1/users/' + encodeURIComponent(name);

  // Puts a user the server returned into the list, or reloads the list when it returned none.
  async function updateUser(body) {
    const user = body && body.user;
    const i = user ? state.users.findIndex((u) => u.username === user.username) : -1;
    if (i < 0) return loadUsers();
    state.users[i] = user;
    renderUsers();
  }

  async function changeRole(name, select) {
    const role = select.value;
    try {
      await updateUser(await api('PATCH', userPath(name), { role }));
      showNotice(t('users.roleChanged', { user: name, role: t('role.' + role) }));
    } catch (err) {
      renderUsers(); // put the select back to the role the user still has
      reportError(err);
    }
  }

  async function setDisabled(name, disabled) {
    try {
      await updateUser(await api('PATCH', userPath(name), { disabled }));
      showNotice(t(disabled ? 'users.disabledDone' : 'users.enabledDone', { user: name }));
    } catch (err) {
      reportError(err);
    }
  }

  async function unlockUser(name) {
    try {
      await updateUser(await api('POST', userPath(name) + '/unlock'));
      showNotice(t('users.unlocked', { user: name }));
    } catch (err) {
      reportError(err);
    }
  }

  async function addUser(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const username = $('user-add-username').value.trim();
    const password = $('user-add-password').value;
    const role = $('user-add-role').value;
    if (!username || !password) return showError(t('err.required'));
    await withDisabled(form, async () => {
      try {
        await api('POST', '/api/v1/users', { username, password, role });
        $('user-add-username').value = '';
        $('user-add-password').value = '';
        await loadUsers();
        showNotice(t('users.added', { user: username }));
        $('user-add-username').focus();
      } catch (err) {
        reportError(err);
      }
    });
  }

  // ---------------------------------------------------------------- dialogs

  function openDialog(dlg) {
    dlg.querySelector('.dialog-alert').textContent = '';
    for (const input of dlg.querySelectorAll('input')) input.value = '';
    dlg.showModal();
    dlg.querySelector('input').focus();
  }

  function openSetPassword(name) {
    state.setPasswordFor = name;
    $('dlg-set-password-title').textContent = t('users.setPasswordTitle', { user: name });
    openDialog($('dlg-set-password'));
  }

  async function submitSetPassword(event) {
    event.preventDefault();
    const dlg = $('dlg-set-password');
    const where = dlg.querySelector('.dialog-alert');
    const name = state.setPasswordFor;
    const password = $('set-new').value;
    if (!password) return void (where.textContent = t('err.required'));
    if (password !== $('set-new2').value) return void (where.textContent = t('err.passwordMismatch'));
    await withDisabled(event.currentTarget, async () => {
      try {
        await updateUser(await api('PATCH', userPath(name), { password }));
        dlg.close();
        showNotice(t('users.passwordSet', { user: name }));
      } catch (err) {
        reportError(err, where);
      }
    });
  }

  async function submitOwnPassword(event) {
    event.preventDefault();
    const dlg = $('dlg-own-password');
    const where = dlg.querySelector('.dialog-alert');
    const current = $('own-current').value;
    const next = $('own-new').value;
    if (!current || !next) return void (where.textContent = t('err.required'));
    if (next !== $('own-new2').value) return void (where.textContent = t('err.passwordMismatch'));
    await withDisabled(event.currentTarget, async () => {
      try {
        await api('POST', '/api/v1/me/password', { current_password: current, new_password: next },
          { credentialCheck: true });
        // The server ends every session of this user when the password changes.
        const username = state.user.username;
        leaveShell();
        $('login-username').value = username;
        showNotice(t('msg.passwordChanged'));
        $('login-password').focus();
      } catch (err) {
        reportError(err, where);
      }
    });
  }

  // ---------------------------------------------------------------- forms

  async function withDisabled(form, work) {
    const buttons = form.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await work();
    } finally {
      for (const b of buttons) b.disabled = false;
      form.removeAttribute('aria-busy');
    }
  }

  async function submitLogin(event) {
    event.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    if (!username || !password) return showError(t('err.required'));
    await withDisabled(event.currentTarget, async () => {
      try {
        const body = await api('POST', '/api/v1/login', { username, password }, { session: false });
        $('login-password').value = '';
        await enterShell(body);
      } catch (err) {
        reportError(err);
        $('login-password').select();
      }
    });
  }

  async function submitSetup(event) {
    event.preventDefault();
    const token = $('setup-token').value.trim();
    const username = $('setup-username').value.trim();
    const password = $('setup-password').value;
    if (!token || !username || !password) return showError(t('err.required'));
    if (password !== $('setup-password2').value) return showError(t('err.passwordMismatch'));
    await withDisabled(event.currentTarget, async () => {
      try {
        await api('POST', '/api/v1/setup', { token, username, password }, { session: false });
        for (const id of ['setup-token', 'setup-password', 'setup-password2']) $(id).value = '';
        showView('login');
        $('login-username').value = username;
        showNotice(t('setup.done'));
        $('login-password').focus();
      } catch (err) {
        reportError(err);
      }
    });
  }

  async function logout() {
    try {
      // Not a session call: an already expired session is no reason to show an error here.
      await api('POST', '/api/v1/logout', undefined, { session: false });
    } catch (err) {
      if (err.status === 0) return reportError(err); // still signed in on the server
    }
    leaveShell();
    showNotice(t('msg.loggedOut'));
    $('login-username').focus();
  }

  function bindEvents() {
    $('lang-toggle').addEventListener('click', () => setLang(state.lang === 'vi' ? 'en' : 'vi'));
    $('alert-close').addEventListener('click', clearError);
    $('login-form').addEventListener('submit', submitLogin);
    $('setup-form').addEventListener('submit', submitSetup);
    $('btn-logout').addEventListener('click', logout);
    $('btn-change-password').addEventListener('click', () => openDialog($('dlg-own-password')));
    $('own-password-form').addEventListener('submit', submitOwnPassword);
    $('set-password-form').addEventListener('submit', submitSetPassword);
    $('dlg-set-password').addEventListener('close', () => { state.setPasswordFor = null; });
    for (const b of document.querySelectorAll('dialog [data-close]')) {
      b.addEventListener('click', () => b.closest('dialog').close());
    }
    $('overview-refresh').addEventListener('click', () => { clearMessages(); loadSite(); });
    $('audit-filter').addEventListener('submit', (event) => {
      event.preventDefault();
      clearMessages();
      state.audit.action = $('audit-action').value.trim();
      loadAudit(false);
    });
    $('audit-filter-clear').addEventListener('click', () => {
      clearMessages();
      $('audit-action').value = '';
      state.audit.action = '';
      loadAudit(false);
    });
    $('audit-more').addEventListener('click', () => loadAudit(true));
    $('user-add-form').addEventListener('submit', addUser);
    window.addEventListener('hashchange', () => route(true));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
