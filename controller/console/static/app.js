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

      'err.detail': 'Chi tiết kỹ thuật',

      'dev.viewOnly': 'Chỉ xem',
      'dev.viewOnlyWhy': 'Tài khoản của bạn chỉ được xem trạng thái thiết bị. Để điều khiển, hãy đăng nhập bằng tài khoản vận hành.',
      'dev.empty': 'Điểm cầu này chưa khai báo thiết bị nào.',
      'dev.updated': 'Cập nhật lúc {time}',
      'dev.stale': 'Không cập nhật được từ {time}',
      'dev.state.online': 'Trực tuyến',
      'dev.state.offline': 'Mất kết nối',
      'dev.state.unknown': 'Đang kiểm tra',
      'dev.state.unusable': 'Không dùng được',
      'dev.offlineSince': 'Mất kết nối từ {time}.',
      'dev.offline': 'Không liên lạc được với thiết bị.',
      'dev.lastOk': 'Thông tin bên dưới đọc được lần cuối lúc {time}.',
      'dev.unusable': 'Thiết bị này chưa dùng được; cần cán bộ kỹ thuật kiểm tra cấu hình.',
      'dev.lastError': 'Lỗi: {error}',
      'dev.done': 'Đã thực hiện',
      'dev.failed': 'Không thực hiện được',
      'dev.noReadings': 'Chưa đọc được thông tin từ thiết bị.',
      'dev.kind.camera': 'Camera',
      'dev.kind.projector': 'Máy chiếu',
      'dev.kind.mixer': 'Bàn trộn âm thanh',
      'dev.kind.power': 'Bộ lưu điện (UPS)',
      'dev.kind.network': 'Thiết bị mạng',
      'dev.confirm': 'Đồng ý',

      'cam.pad': 'Điều khiển hướng camera',
      'cam.padHint': 'Bấm và giữ mũi tên để quay camera, thả ra để dừng. Có thể dùng phím mũi tên.',
      'cam.up': 'Lên',
      'cam.down': 'Xuống',
      'cam.left': 'Trái',
      'cam.right': 'Phải',
      'cam.home': 'Về giữa',
      'cam.zoomIn': 'Phóng to',
      'cam.zoomOut': 'Thu nhỏ',
      'cam.speed': 'Tốc độ quay',
      'cam.zoomLevel': 'Mức phóng to',
      'cam.focusAuto': 'Lấy nét tự động',
      'cam.powerOn': 'Bật camera',
      'cam.powerOff': 'Tắt camera',
      'cam.confirmOff': 'Tắt camera?',
      'cam.confirmOffText': 'Các điểm cầu khác sẽ không thấy hình từ phòng họp này cho đến khi bật lại.',
      'cam.power.on': 'Camera đang bật',
      'cam.power.off': 'Camera đang tắt (chờ)',
      'cam.offHint': 'Camera đang tắt: bật camera để quay và phóng to.',
      'cam.presets': 'Vị trí đặt sẵn',
      'cam.presetsHint': 'Bấm để quay camera tới vị trí đã lưu.',
      'cam.presetN': 'Vị trí {n}',
      'cam.storeHeading': 'Lưu hướng hiện tại thành vị trí',
      'cam.presetNumber': 'Số (0–15)',
      'cam.presetName': 'Tên vị trí',
      'cam.store': 'Lưu vị trí',
      'cam.overwrite': 'Ghi đè vị trí {n}?',
      'cam.overwriteText': 'Vị trí {n} đang là “{name}”. Hướng hiện tại của camera sẽ thay thế vị trí này.',
      'cam.overwriteOk': 'Ghi đè',
      'cam.nameRequired': 'Vui lòng đặt tên cho vị trí (ví dụ “Chủ toạ”).',
      'cam.numberRange': 'Số vị trí phải là số nguyên từ 0 đến 15.',
      'cam.position': 'Hướng: ngang {pan} · dọc {tilt} · phóng to {zoom}',

      'proj.power.on': 'Đang bật',
      'proj.power.off': 'Đang tắt',
      'proj.power.warming': 'Đang khởi động…',
      'proj.power.cooling': 'Đang làm nguội…',
      'proj.power.unknown': 'Chưa rõ',
      'proj.powerLabel': 'Tình trạng',
      'proj.turnOn': 'Bật máy chiếu',
      'proj.turnOff': 'Tắt máy chiếu',
      'proj.wait': 'Vui lòng chờ…',
      'proj.confirmOff': 'Tắt máy chiếu?',
      'proj.confirmOffText': 'Máy chiếu cần vài phút làm nguội trước khi bật lại được.',
      'proj.input': 'Nguồn hình',
      'proj.src.HDMI1': 'HDMI 1',
      'proj.src.HDMI2': 'HDMI 2',
      'proj.src.RGB1': 'Máy tính (RGB 1)',
      'proj.src.VIDEO1': 'Video 1',
      'proj.src.NETWORK1': 'Mạng (Network 1)',
      'proj.src.DIGITAL1': 'Cổng số 1 (HDMI/DVI)',
      'proj.src.DIGITAL2': 'Cổng số 2 (HDMI/DVI)',
      'proj.mute': 'Tạm tắt hình và tiếng',
      'proj.muted': 'Đang tạm tắt hình và tiếng',
      'proj.muteHint': 'Che hình và tiếng mà không tắt máy chiếu.',
      'proj.offHint': 'Bật máy chiếu để chọn nguồn hình.',
      'proj.lamp': 'Số giờ dùng đèn',
      'proj.hours': '{n} giờ',
      'proj.errors': 'Báo lỗi',
      'proj.noErrors': 'Không có lỗi',
      'proj.part.fan': 'quạt',
      'proj.part.lamp': 'đèn',
      'proj.part.temperature': 'nhiệt độ',
      'proj.part.cover': 'nắp',
      'proj.part.filter': 'bộ lọc',
      'proj.part.other': 'khác',
      'proj.level.warning': 'cảnh báo',
      'proj.level.error': 'lỗi',
      'proj.name': 'Tên trên máy',

      'mix.channel': 'Kênh {n}',
      'mix.mute': 'Tắt tiếng',
      'mix.muted': 'Đang tắt tiếng',
      'mix.gain': 'Âm lượng',
      'mix.noChannels': 'Chưa đọc được danh sách kênh âm thanh.',

      'ups.mains': 'Đang chạy điện lưới',
      'ups.battery': 'ĐANG CHẠY PIN',
      'ups.unknown': 'Chưa rõ nguồn điện',
      'ups.batteryHint': 'Mất điện lưới. Hãy báo cán bộ kỹ thuật và chuẩn bị kết thúc nếu điện chưa có lại.',
      'ups.charge': 'Pin còn',
      'ups.runtime': 'Thời gian chạy pin còn lại',
      'ups.minutes': '{n} phút',
      'ups.load': 'Tải',
      'ups.batteryStatus': 'Tình trạng pin',
      'ups.bat.normal': 'Bình thường',
      'ups.bat.low': 'Pin yếu',
      'ups.bat.depleted': 'Hết pin',
      'ups.bat.unknown': 'Chưa rõ',
      'ups.inputVoltage': 'Điện áp vào',
      'ups.alarms': 'Cảnh báo',
      'ups.noAlarms': 'Không có',
      'ups.alarmCount': '{n} cảnh báo',
      'ups.alarmLine': 'ĐANG CHẠY PIN: {name} báo mất điện lưới.',
      'ups.alarmLineMinutes': 'ĐANG CHẠY PIN: {name} báo mất điện lưới, pin còn khoảng {n} phút.',

      'net.col.name': 'Cổng',
      'net.col.state': 'Trạng thái',
      'net.col.speed': 'Tốc độ',
      'net.col.errors': 'Lỗi vào/ra',
      'net.up': 'Hoạt động',
      'net.down': 'Không hoạt động',
      'net.adminDown': 'Đã tắt',
      'net.none': 'Chưa đọc được danh sách cổng mạng.',

      'calls.heading': 'Hội nghị',
      'calls.intro': 'Bấm “Tham gia hội nghị” trước giờ họp, rồi theo dõi dải màu đường truyền: xanh là tốt, vàng là tạm được, đỏ là kém.',
      'calls.viewOnlyWhy': 'Tài khoản của bạn chỉ được xem tình trạng hội nghị. Để tham gia hoặc rời hội nghị, hãy đăng nhập bằng tài khoản vận hành hoặc chủ trì.',
      'calls.empty': 'Điểm cầu này chưa khai báo cầu hội nghị nào.',
      'calls.kind.janus-videoroom': 'Hội nghị truyền hình (Janus)',
      'calls.kind.sip': 'Hội nghị qua SIP',
      'calls.kind.whip': 'Hội nghị truyền hình (WHIP)',
      'calls.room': 'phòng {room}',
      'calls.join': 'Tham gia hội nghị',
      'calls.leave': 'Rời hội nghị',
      'calls.confirmLeave': 'Rời hội nghị?',
      'calls.confirmLeaveText': 'Phòng họp sẽ không còn nghe, thấy và không còn được các điểm cầu khác nghe, thấy cho đến khi tham gia lại.',
      'calls.joined': 'Đã tham gia',
      'calls.left': 'Đã rời hội nghị',
      'calls.startedBy': 'Người bấm tham gia: {user}',
      'calls.unusable': 'Cầu hội nghị này chưa dùng được; cần cán bộ kỹ thuật kiểm tra cấu hình.',
      'calls.state.idle': 'Chưa tham gia',
      'calls.state.connecting': 'Đang kết nối…',
      'calls.state.connected': 'Đã kết nối',
      'calls.state.degraded': 'Chất lượng kém',
      'calls.state.recovering': 'Đang tự khôi phục…',
      'calls.state.dropped': 'Mất kết nối',
      'calls.state.ended': 'Đã kết thúc',
      'calls.state.unusable': 'Không dùng được',
      'calls.watch': 'Xem hội nghị',
      'calls.watchStop': 'Dừng xem',
      'calls.unmute': 'Bật tiếng',
      'calls.mute': 'Tắt tiếng',
      'calls.fullscreen': 'Toàn màn hình',
      'calls.playoutTitle': 'Hình ảnh hội nghị',
      'calls.playoutConnecting': 'Đang mở hình ảnh hội nghị…',
      'calls.playoutPlaying': 'Đang phát. Tiếng đang tắt; bấm “Bật tiếng” để nghe.',
      'calls.playoutPlayingSound': 'Đang phát có tiếng.',
      'calls.playoutFailed': 'Không mở được hình ảnh hội nghị trên máy này. Bấm “Xem hội nghị” để thử lại.',
      'ses.heading': 'Phiên họp trực tuyến',
      'ses.empty': 'Chưa có phiên họp nào của điểm cầu này.',
      'ses.new': 'Tạo phiên họp',
      'ses.newHeading': 'Tạo phiên họp mới',
      'ses.create': 'Tạo phiên họp',
      'ses.created': 'Đã tạo phiên họp “{title}”. Cần duyệt để gửi giấy mời tới các điểm cầu.',
      'ses.field.title': 'Tên phiên họp',
      'ses.field.kind': 'Loại phiên họp',
      'ses.field.starts': 'Bắt đầu',
      'ses.field.ends': 'Kết thúc',
      'ses.field.secret': 'Phiên họp mật (không ghi hình, chỉ dùng đường truyền mã hóa)',
      'ses.field.participants': 'Điểm cầu tham dự',
      'ses.field.participantsHint': 'Đánh dấu từng điểm cầu, hoặc “cả nhánh” để mời một điểm cầu cùng mọi điểm cầu cấp dưới của nó.',
      'ses.field.state': 'Trạng thái',
      'ses.field.chair': 'Điểm cầu chủ trì',
      'ses.field.time': 'Thời gian',
      'ses.field.approval': 'Phê duyệt',
      'ses.field.secretShort': 'Mật',
      'ses.field.locked': 'Khóa',
      'ses.field.rollcall': 'Điểm danh',
      'ses.noSubtree': 'Điểm cầu này chưa có điểm cầu cấp dưới nào kết nối.',
      'ses.wholeBranch': 'cả nhánh',
      'ses.pickSites': 'Hãy chọn ít nhất một điểm cầu tham dự.',
      'ses.endBeforeStart': 'Giờ kết thúc phải sau giờ bắt đầu.',
      'ses.kind.regular': 'Thường kỳ',
      'ses.kind.extraordinary': 'Bất thường',
      'ses.state.scheduled': 'Đã lên lịch',
      'ses.state.readiness': 'Đang chuẩn bị',
      'ses.state.live': 'Đang diễn ra',
      'ses.state.ended': 'Đã kết thúc',
      'ses.state.cancelled': 'Đã hủy',
      'ses.approved': 'Đã duyệt',
      'ses.notApproved': 'Chưa duyệt',
      'ses.approvedBy': 'Đã duyệt ({user})',
      'ses.secret': 'Mật',
      'ses.secretLong': 'Phiên họp mật: không ghi hình, không dùng đường truyền không mã hóa.',
      'ses.lockedLong': 'Đã khóa: không đổi ủy quyền.',
      'ses.chairedBy': 'Chủ trì: {site}',
      'ses.timeRange': '{start} – {end}',
      'ses.noticeLate': 'Thông báo muộn: {message}',
      'ses.ownHeading': 'Phần của điểm cầu này',
      'ses.invitation': 'Điểm cầu được mời tham dự phiên họp do {chair} chủ trì, {time}.',
      'ses.inviteChair': 'Điểm cầu này chủ trì phiên họp.',
      'ses.inviteDelegate': 'Điểm cầu này được ủy quyền điều khiển một nhánh.',
      'ses.viewOnlyWhy': 'Tài khoản của bạn chỉ được xem. Để điểm danh, xin phát biểu hay tham gia hội nghị, hãy đăng nhập bằng tài khoản vận hành hoặc chủ trì.',
      'ses.readinessHeading': 'Kiểm tra sẵn sàng',
      'ses.readinessNone': 'Chưa kiểm tra',
      'ses.ready': 'Phòng họp đã sẵn sàng.',
      'ses.notReady': 'Phòng họp chưa sẵn sàng: xem các mục không đạt.',
      'ses.readyShort': 'Đạt',
      'ses.notReadyShort': 'Không đạt',
      'ses.checkedAt': '(kiểm tra lúc {time})',
      'ses.recheck': 'Kiểm tra lại',
      'ses.recheckDone': 'Đã kiểm tra lại.',
      'ses.check.devices': 'Thiết bị',
      'ses.check.camera': 'Camera',
      'ses.check.projector': 'Máy chiếu',
      'ses.check.mic': 'Micro',
      'ses.check.bridge': 'Kết nối hội nghị',
      'ses.verdict.ok': 'Đạt',
      'ses.verdict.fail': 'Không đạt',
      'ses.verdict.skip': 'Bỏ qua',
      'ses.rollcallHeading': 'Điểm danh',
      'ses.rollcallIntro': 'Điểm cầu chủ trì đang điểm danh. Nhập số người tham dự và danh sách thành phần (mỗi dòng một người), rồi bấm “Gửi điểm danh”.',
      'ses.rollcallCount': 'Số người tham dự',
      'ses.rollcallNames': 'Thành phần tham dự (mỗi dòng một người)',
      'ses.rollcallSubmit': 'Gửi điểm danh',
      'ses.rollcallDone': 'Đã gửi điểm danh.',
      'ses.rollcallSent': 'Đã báo {n} người tham dự.',
      'ses.rollcallBadCount': 'Số người tham dự phải là số nguyên từ 0 đến 10.000.',
      'ses.rollcallLongName': 'Mỗi tên tối đa 120 ký tự.',
      'ses.rollcallOpen': 'Đang điểm danh',
      'ses.raiseHand': 'Xin phát biểu',
      'ses.lowerHand': 'Hủy xin phát biểu',
      'ses.handRaised': 'Đã xin phát biểu; chờ điểm cầu chủ trì cho phát biểu.',
      'ses.handLowered': 'Đã hủy xin phát biểu.',
      'ses.youSpeak': 'Đang được phát biểu',
      'ses.remaining': 'còn {time}',
      'ses.overtime': 'quá giờ {time}',
      'ses.noBridge': 'Điểm cầu này chưa khai báo cầu hội nghị nên chưa tham gia được. Hãy báo cán bộ kỹ thuật.',
      'ses.chairHeading': 'Điều hành phiên họp',
      'ses.approve': 'Duyệt và gửi giấy mời',
      'ses.approvedDone': 'Đã duyệt; giấy mời đang được gửi tới các điểm cầu.',
      'ses.act.readiness': 'Chuẩn bị',
      'ses.act.start': 'Bắt đầu',
      'ses.act.end': 'Kết thúc',
      'ses.act.cancel': 'Hủy phiên họp',
      'ses.act.rollcallOpen': 'Mở điểm danh',
      'ses.act.rollcallClose': 'Đóng điểm danh',
      'ses.act.lock': 'Khóa',
      'ses.act.unlock': 'Mở khóa',
      'ses.act.muteAll': 'Tắt micro tất cả',
      'ses.act.unmuteAll': 'Bật micro tất cả',
      'ses.act.mute': 'Tắt micro',
      'ses.act.unmute': 'Bật micro',
      'ses.act.preset': 'Gọi vị trí',
      'ses.act.home': 'Về gốc',
      'ses.act.projOn': 'Bật máy chiếu',
      'ses.act.projOff': 'Tắt máy chiếu',
      'ses.act.check': 'Kiểm tra sẵn sàng',
      'ses.act.delegate': 'Ủy quyền nhánh',
      'ses.act.undelegate': 'Thu hồi ủy quyền',
      'ses.presetNumber': 'Số vị trí đặt sẵn của camera',
      'ses.badPreset': 'Số vị trí phải từ 0 đến 255.',
      'ses.confirmEnd': 'Kết thúc phiên họp?',
      'ses.confirmEndText': 'Mọi điểm cầu sẽ thấy phiên họp đã kết thúc; không thể mở lại.',
      'ses.confirmCancel': 'Hủy phiên họp?',
      'ses.confirmCancelText': 'Các điểm cầu đã được mời sẽ thấy phiên họp bị hủy.',
      'ses.floorHeading': 'Phát biểu',
      'ses.speakerNow': 'Đang phát biểu: {site}',
      'ses.noSpeaker': 'Chưa có điểm cầu nào đang phát biểu.',
      'ses.floorNext': 'Người tiếp theo',
      'ses.floorRevoke': 'Thu hồi',
      'ses.floorGrant': 'Cho phát biểu',
      'ses.floorLower': 'Bỏ khỏi hàng',
      'ses.queueHeading': 'Hàng chờ xin phát biểu',
      'ses.queueEmpty': 'Không có điểm cầu nào xin phát biểu.',
      'ses.gridHeading': 'Các điểm cầu',
      'ses.col.site': 'Điểm cầu',
      'ses.col.online': 'Kết nối',
      'ses.col.readiness': 'Sẵn sàng',
      'ses.col.rollcall': 'Điểm danh',
      'ses.col.hand': 'Phát biểu',
      'ses.col.link': 'Đường truyền',
      'ses.col.local': 'Tại chỗ',
      'ses.col.delegate': 'Ủy quyền',
      'ses.col.result': 'Kết quả lệnh',
      'ses.col.controls': 'Điều khiển',
      'ses.chairSite': 'chủ trì',
      'ses.online': 'Trực tuyến',
      'ses.offline': 'Mất kết nối',
      'ses.attendees': '{n} người',
      'ses.handUp': 'Xin phát biểu',
      'ses.speaking': 'Đang phát biểu',
      'ses.link.none': 'Chưa có',
      'ses.link.green': 'Tốt',
      'ses.link.amber': 'Tạm được',
      'ses.link.red': 'Kém',
      'ses.localOnly': 'Chỉ tại chỗ',
      'ses.localControl': 'Chỉ điều khiển tại chỗ',
      'ses.localControlOn': 'Đang chỉ điều khiển tại chỗ: lệnh từ điểm cầu chủ trì bị từ chối.',
      'ses.localControlSetOn': 'Đã bật chỉ điều khiển tại chỗ.',
      'ses.localControlSetOff': 'Đã tắt chỉ điều khiển tại chỗ; điểm cầu chủ trì lại điều khiển được.',
      'ses.resultOk': '{what}: đã thực hiện',
      'ses.resultFail': '{what}: không thực hiện được. {why}',
      'ses.someFailed': '{what}: {n}/{total} điểm cầu không thực hiện được (xem cột “Kết quả lệnh”).',
      'ses.did.start': 'Bắt đầu',
      'ses.did.end': 'Kết thúc',
      'ses.did.cancel': 'Hủy phiên họp',
      'ses.did.readiness': 'Chuẩn bị',
      'ses.did.rollcall.open': 'Mở điểm danh',
      'ses.did.rollcall.close': 'Đóng điểm danh',
      'ses.did.floor.grant': 'Cho phát biểu',
      'ses.did.floor.revoke': 'Thu hồi phát biểu',
      'ses.did.floor.lower': 'Bỏ khỏi hàng chờ',
      'ses.did.mute': 'Micro',
      'ses.did.mute_all': 'Micro tất cả',
      'ses.did.camera': 'Camera',
      'ses.did.projector': 'Máy chiếu',
      'ses.did.lock': 'Khóa phiên họp',
      'ses.did.delegate': 'Ủy quyền',
      'ses.did.undelegate': 'Thu hồi ủy quyền',
      'ses.did.readiness.run': 'Kiểm tra sẵn sàng',
      'ses.code.site_offline': 'Điểm cầu đang mất kết nối.',
      'ses.code.not_chair': 'Lệnh không đến từ điểm cầu chủ trì hay điểm cầu được ủy quyền.',
      'ses.code.local_control_only': 'Điểm cầu đang ở chế độ chỉ điều khiển tại chỗ.',
      'ses.code.session_not_live': 'Phiên họp chưa diễn ra hoặc đã kết thúc.',
      'ses.code.command_timeout': 'Điểm cầu không trả lời kịp.',
      'ses.code.partial': 'Chỉ thực hiện được một phần.',
      'ses.code.device_not_found': 'Điểm cầu không có thiết bị này.',
      'ses.code.no_device': 'Điểm cầu không có thiết bị này.',
      'ses.grp.mic': 'Micro',
      'ses.grp.camera': 'Camera, vị trí số',
      'ses.grp.projector': 'Máy chiếu',
      'ses.grp.other': 'Khác',
      'link.heading': 'Đường truyền',
      'link.health.green': 'Đường truyền tốt',
      'link.health.amber': 'Đường truyền tạm được',
      'link.health.red': 'Đường truyền kém',
      'link.health.grey': 'Chưa có số liệu đường truyền',
      'link.metric': 'Chỉ số',
      'link.send': 'Gửi đi',
      'link.recv': 'Nhận về',
      'link.audio': 'âm thanh',
      'link.video': 'hình ảnh',
      'link.loss': 'Mất gói',
      'link.jitter': 'Độ trễ biến thiên',
      'link.rtt': 'Trễ khứ hồi',
      'link.bitrate': 'Tốc độ',
      'link.fps': 'Khung hình/giây',
      'link.mos': 'Điểm chất lượng (MOS)',
      'link.mosHint': 'Thang 1–5; từ 4 trở lên là tốt.',
      'link.noSamples': 'Đang chờ số liệu đo đường truyền…',
      'events.heading': 'Diễn biến gần đây',
      'events.none': 'Chưa có diễn biến nào.',
      'events.connected': 'Đã kết nối vào hội nghị',
      'events.connectedAgain': 'Chất lượng đã trở lại bình thường',
      'events.degraded': 'Chất lượng đường truyền giảm',
      'events.dropped': 'Mất kết nối với hội nghị',
      'events.recovery_step': 'Tự kết nối lại, lần thứ {n}',
      'events.recovery_stepDelay': 'Tự kết nối lại, lần thứ {n} (sau {s} giây)',
      'events.recovered': 'Đã kết nối lại',
      'events.recoveredAfter': 'Đã kết nối lại sau {s} giây gián đoạn',
      'events.ended': 'Đã rời hội nghị',
      'events.ringing': 'Đang đổ chuông',
      'events.renegotiated': 'Đã điều chỉnh lại âm thanh, hình ảnh',
      'inc.reportProblem': 'Báo cáo sự cố',
      'inc.viewOnlyWhy': 'Vai trò của bạn chỉ được xem sự cố; cán bộ vận hành hoặc chủ trì tiếp nhận và xử lý.',
      'inc.new.intro': 'Báo ngay khi phòng họp gặp trục trặc mà hệ thống chưa tự phát hiện (ví dụ: micro mất tiếng, màn hình không lên hình). Sự cố được gửi lên cấp trên.',
      'inc.new.title': 'Sự cố gì (mô tả ngắn)',
      'inc.new.description': 'Mô tả thêm (không bắt buộc)',
      'inc.new.severity': 'Mức độ',
      'inc.new.submit': 'Gửi báo cáo sự cố',
      'inc.new.done': 'Đã ghi nhận sự cố “{title}”.',
      'inc.new.titleMissing': 'Hãy nhập mô tả ngắn của sự cố.',
      'inc.sev.minor': 'Nhẹ',
      'inc.sev.major': 'Nặng',
      'inc.sev.critical': 'Nghiêm trọng',
      'inc.state.open': 'Đang mở',
      'inc.state.acknowledged': 'Đã tiếp nhận',
      'inc.state.resolved': 'Đã xử lý',
      'inc.filter.state': 'Hiển thị',
      'inc.filter.unresolved': 'Chưa xử lý xong',
      'inc.filter.all': 'Tất cả',
      'inc.filter.scope': 'Phạm vi',
      'inc.filter.subtree': 'Điểm cầu này và cấp dưới',
      'inc.filter.local': 'Chỉ điểm cầu này',
      'inc.col.severity': 'Mức độ',
      'inc.col.title': 'Sự cố',
      'inc.col.site': 'Điểm cầu',
      'inc.col.state': 'Trạng thái',
      'inc.col.opened': 'Phát hiện lúc',
      'inc.col.restore': 'Thời gian khắc phục',
      'inc.col.clocks': 'Thời hạn báo cáo',
      'inc.emptyUnresolved': 'Không có sự cố nào đang mở.',
      'inc.emptyAll': 'Chưa có sự cố nào.',
      'inc.updated': 'Cập nhật lúc {time}',
      'inc.causedBy': 'do sự cố: {title}',
      'inc.ongoing': 'Đang diễn ra ({d})',
      'inc.dur.d': '{n} ngày',
      'inc.dur.h': '{n} giờ',
      'inc.dur.m': '{n} phút',
      'inc.dur.s': '{n} giây',
      'inc.clock.noticeLate': 'Quá hạn thông báo ban đầu',
      'inc.clock.reportLate': 'Quá hạn báo cáo',
      'inc.clock.noticeDue': 'Thông báo trước {time}',
      'inc.clock.reportDue': 'Báo cáo trước {time}',
      'inc.clock.allSent': 'Đã gửi đủ',
      'inc.clock.sent': 'Đã gửi lúc {time}',
      'inc.clock.due': 'Hạn {time}, chưa gửi',
      'inc.clock.late': 'QUÁ HẠN từ {time}',
      'inc.fact.site': 'Điểm cầu xảy ra',
      'inc.fact.subject': 'Đối tượng',
      'inc.fact.opened': 'Phát hiện lúc',
      'inc.fact.acknowledged': 'Tiếp nhận',
      'inc.fact.resolved': 'Khắc phục xong',
      'inc.fact.restore': 'Thời gian khắc phục',
      'inc.fact.notice': 'Thông báo ban đầu (24 giờ)',
      'inc.fact.report': 'Báo cáo đầy đủ (72 giờ)',
      'inc.fact.session': 'Phiên họp',
      'inc.fact.cause': 'Nguyên nhân chung',
      'inc.fact.resolution': 'Kết quả xử lý',
      'inc.by': '{time} ({who})',
      'inc.timeline': 'Diễn biến',
      'inc.tl.onset': 'Phát hiện sự cố',
      'inc.tl.recovery': 'Tự khắc phục',
      'inc.tl.note': 'Ghi chú',
      'inc.tl.acknowledged': 'Tiếp nhận',
      'inc.tl.resolved': 'Kết thúc sự cố',
      'inc.tl.notice_sent': 'Gửi thông báo ban đầu',
      'inc.tl.report_sent': 'Gửi báo cáo đầy đủ',
      'inc.tl.reopened': 'Sự cố tái diễn',
      'inc.actions': 'Xử lý sự cố',
      'inc.acknowledge': 'Tiếp nhận',
      'inc.noteLabel': 'Ghi chú mới',
      'inc.note': 'Ghi chú',
      'inc.resolveLabel': 'Đã làm gì để khắc phục',
      'inc.resolve': 'Đã xử lý',
      'inc.sentNotice': 'Đã gửi thông báo ban đầu',
      'inc.sentReport': 'Đã gửi báo cáo',
      'inc.done.acknowledge': 'Đã tiếp nhận sự cố.',
      'inc.done.note': 'Đã thêm ghi chú.',
      'inc.done.resolve': 'Đã đóng sự cố.',
      'inc.done.notice': 'Đã ghi nhận: thông báo ban đầu đã gửi.',
      'inc.done.report': 'Đã ghi nhận: báo cáo đầy đủ đã gửi.',
      'inc.noteEmpty': 'Hãy nhập nội dung ghi chú.',
      'inc.otherSite': 'Sự cố của điểm cầu {site}: ở đây chỉ xem được; điểm cầu đó tiếp nhận và xử lý.',
      'inc.reports': 'Báo cáo sự cố:',
      'inc.report.html': 'Xem, in (HTML)',
      'inc.report.pdf': 'Tải PDF',
      'inc.report.json': 'Dữ liệu (JSON)',
      'inc.close': 'Đóng',
      'inc.gone': 'Sự cố này không còn ở điểm cầu này.',
      'rep.intro': 'Báo cáo định kỳ về việc tham dự hội nghị trực tuyến, sự cố và bảo dưỡng thiết bị của điểm cầu, để gửi cấp trên.',
      'rep.kind': 'Kỳ báo cáo',
      'rep.kind.H1': '6 tháng đầu năm',
      'rep.kind.H2': '6 tháng cuối năm',
      'rep.kind.year': 'Cả năm',
      'rep.kind.range': 'Khoảng thời gian khác',
      'rep.year': 'Năm',
      'rep.from': 'Từ ngày',
      'rep.to': 'Đến ngày (tính cả ngày này)',
      'rep.scope': 'Phạm vi',
      'rep.scope.site': 'Chỉ điểm cầu này',
      'rep.scope.subtree': 'Cả các điểm cầu cấp dưới',
      'rep.number': 'Số văn bản (không bắt buộc)',
      'rep.view': 'Xem',
      'rep.periodHint': 'Kỳ báo cáo khoá sổ vào ngày chốt số liệu của tháng cuối kỳ (thường là ngày 15): 6 tháng cuối năm tính từ ngày 15/6 đến hết ngày 14/12.',
      'rep.rangeMissing': 'Vui lòng chọn cả ngày bắt đầu và ngày kết thúc.',
      'rep.rangeOrder': 'Ngày kết thúc phải sau hoặc trùng ngày bắt đầu.',
      'rep.denied': 'Vai trò của bạn ({role}) không được xem báo cáo định kỳ. Báo cáo dành cho quản trị, kiểm tra, chủ trì và vận hành; hãy nhờ quản trị viên nếu cần.',
      'rep.title': 'Báo cáo {period}: {site}',
      'rep.label.H1': '6 tháng đầu năm {year}',
      'rep.label.H2': '6 tháng cuối năm {year}',
      'rep.label.year': 'Năm {year}',
      'rep.label.range': 'Từ {start} đến {end}',
      'rep.fact.period': 'Thời gian',
      'rep.fact.cutoff': 'Ngày chốt số liệu: ngày {day} của tháng cuối kỳ',
      'rep.fact.scope': 'Phạm vi',
      'rep.fact.number': 'Số văn bản',
      'rep.fact.generated': 'Lập lúc',
      'rep.download': 'Tải về:',
      'rep.download.pdf': 'PDF',
      'rep.download.xlsx': 'Excel (XLSX)',
      'rep.download.csv': 'CSV',
      'rep.download.json': 'Dữ liệu (JSON)',
      'rep.markFiled': 'Đánh dấu đã nộp',
      'rep.fileConfirmTitle': 'Đánh dấu báo cáo {period} là đã nộp?',
      'rep.fileConfirmText': 'Chỉ đánh dấu sau khi báo cáo đã được gửi lên cấp trên. Sau đó số liệu cũ của kỳ này có thể được dọn bớt theo chính sách lưu trữ.',
      'rep.fileOk': 'Đánh dấu đã nộp',
      'rep.filed': 'Đã đánh dấu báo cáo {period} là đã nộp.',
      'rep.totals': 'Tổng hợp',
      'rep.rowsHeading': 'Từng điểm cầu',
      'rep.noRows': 'Không có số liệu trong kỳ này.',
      'rep.tot.sites': 'Số điểm cầu',
      'rep.tot.sessions': 'Phiên tham dự / được mời',
      'rep.tot.hosted': 'Phiên do điểm cầu chủ trì',
      'rep.col.site': 'Điểm cầu',
      'rep.col.invited': 'Phiên được mời',
      'rep.col.attended': 'Phiên tham dự',
      'rep.col.attendance': 'Tỉ lệ tham dự',
      'rep.col.onTime': 'Vào đúng giờ',
      'rep.col.readiness': 'Đạt kiểm tra sẵn sàng',
      'rep.col.hours': 'Giờ kết nối',
      'rep.col.incidents': 'Sự cố',
      'rep.col.mttr': 'Khắc phục trung bình (phút)',
      'rep.col.availability': 'Thời gian sẵn sàng',
      'rep.col.maintenance': 'Cần bảo dưỡng',
      'rep.noMaintenance': 'Không có',
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

      'err.detail': 'Technical details',

      'dev.viewOnly': 'View only',
      'dev.viewOnlyWhy': 'Your account may only view device status. To control devices, sign in with an operator account.',
      'dev.empty': 'No devices are configured at this site.',
      'dev.updated': 'Updated at {time}',
      'dev.stale': 'Not updated since {time}',
      'dev.state.online': 'Online',
      'dev.state.offline': 'Offline',
      'dev.state.unknown': 'Checking',
      'dev.state.unusable': 'Unusable',
      'dev.offlineSince': 'Offline since {time}.',
      'dev.offline': 'The device cannot be reached.',
      'dev.lastOk': 'The information below was last read at {time}.',
      'dev.unusable': 'This device cannot be used yet; a technician needs to check its settings.',
      'dev.lastError': 'Error: {error}',
      'dev.done': 'Done',
      'dev.failed': 'Not done',
      'dev.noReadings': 'No information read from the device yet.',
      'dev.kind.camera': 'Camera',
      'dev.kind.projector': 'Projector',
      'dev.kind.mixer': 'Audio mixer',
      'dev.kind.power': 'UPS',
      'dev.kind.network': 'Network device',
      'dev.confirm': 'OK',

      'cam.pad': 'Camera direction',
      'cam.padHint': 'Press and hold an arrow to turn the camera, release to stop. Arrow keys work too.',
      'cam.up': 'Up',
      'cam.down': 'Down',
      'cam.left': 'Left',
      'cam.right': 'Right',
      'cam.home': 'Centre',
      'cam.zoomIn': 'Zoom in',
      'cam.zoomOut': 'Zoom out',
      'cam.speed': 'Turning speed',
      'cam.zoomLevel': 'Zoom level',
      'cam.focusAuto': 'Auto focus',
      'cam.powerOn': 'Turn camera on',
      'cam.powerOff': 'Turn camera off',
      'cam.confirmOff': 'Turn the camera off?',
      'cam.confirmOffText': 'Other sites will not see this room until the camera is turned on again.',
      'cam.power.on': 'Camera is on',
      'cam.power.off': 'Camera is off (standby)',
      'cam.offHint': 'The camera is off: turn it on to move or zoom.',
      'cam.presets': 'Preset positions',
      'cam.presetsHint': 'Press to turn the camera to a saved position.',
      'cam.presetN': 'Position {n}',
      'cam.storeHeading': 'Save the current direction as a position',
      'cam.presetNumber': 'Number (0–15)',
      'cam.presetName': 'Position name',
      'cam.store': 'Save position',
      'cam.overwrite': 'Overwrite position {n}?',
      'cam.overwriteText': 'Position {n} is “{name}”. The camera’s current direction will replace it.',
      'cam.overwriteOk': 'Overwrite',
      'cam.nameRequired': 'Please name the position (for example “Chair”).',
      'cam.numberRange': 'The position number must be a whole number from 0 to 15.',
      'cam.position': 'Direction: pan {pan} · tilt {tilt} · zoom {zoom}',

      'proj.power.on': 'On',
      'proj.power.off': 'Off',
      'proj.power.warming': 'Warming up…',
      'proj.power.cooling': 'Cooling down…',
      'proj.power.unknown': 'Unknown',
      'proj.powerLabel': 'State',
      'proj.turnOn': 'Turn projector on',
      'proj.turnOff': 'Turn projector off',
      'proj.wait': 'Please wait…',
      'proj.confirmOff': 'Turn the projector off?',
      'proj.confirmOffText': 'The projector needs a few minutes to cool down before it can be turned on again.',
      'proj.input': 'Picture source',
      'proj.src.HDMI1': 'HDMI 1',
      'proj.src.HDMI2': 'HDMI 2',
      'proj.src.RGB1': 'Computer (RGB 1)',
      'proj.src.VIDEO1': 'Video 1',
      'proj.src.NETWORK1': 'Network 1',
      'proj.src.DIGITAL1': 'Digital 1 (HDMI/DVI)',
      'proj.src.DIGITAL2': 'Digital 2 (HDMI/DVI)',
      'proj.mute': 'Blank picture and sound',
      'proj.muted': 'Picture and sound blanked',
      'proj.muteHint': 'Hides picture and sound without turning the projector off.',
      'proj.offHint': 'Turn the projector on to choose a source.',
      'proj.lamp': 'Lamp hours',
      'proj.hours': '{n} hours',
      'proj.errors': 'Faults',
      'proj.noErrors': 'None',
      'proj.part.fan': 'fan',
      'proj.part.lamp': 'lamp',
      'proj.part.temperature': 'temperature',
      'proj.part.cover': 'cover',
      'proj.part.filter': 'filter',
      'proj.part.other': 'other',
      'proj.level.warning': 'warning',
      'proj.level.error': 'error',
      'proj.name': 'Name on the device',

      'mix.channel': 'Channel {n}',
      'mix.mute': 'Mute',
      'mix.muted': 'Muted',
      'mix.gain': 'Volume',
      'mix.noChannels': 'The list of audio channels has not been read yet.',

      'ups.mains': 'Running on mains power',
      'ups.battery': 'RUNNING ON BATTERY',
      'ups.unknown': 'Power source unknown',
      'ups.batteryHint': 'Mains power is lost. Tell the technician and prepare to finish if power does not return.',
      'ups.charge': 'Battery charge',
      'ups.runtime': 'Battery time left',
      'ups.minutes': '{n} minutes',
      'ups.load': 'Load',
      'ups.batteryStatus': 'Battery condition',
      'ups.bat.normal': 'Normal',
      'ups.bat.low': 'Low',
      'ups.bat.depleted': 'Depleted',
      'ups.bat.unknown': 'Unknown',
      'ups.inputVoltage': 'Input voltage',
      'ups.alarms': 'Alarms',
      'ups.noAlarms': 'None',
      'ups.alarmCount': '{n} alarm(s)',
      'ups.alarmLine': 'RUNNING ON BATTERY: {name} reports a mains failure.',
      'ups.alarmLineMinutes': 'RUNNING ON BATTERY: {name} reports a mains failure, about {n} minutes of battery left.',

      'net.col.name': 'Port',
      'net.col.state': 'State',
      'net.col.speed': 'Speed',
      'net.col.errors': 'Errors in/out',
      'net.up': 'Up',
      'net.down': 'Down',
      'net.adminDown': 'Switched off',
      'net.none': 'The list of ports has not been read yet.',

      'calls.heading': 'Conference',
      'calls.intro': 'Press “Join the conference” before the meeting, then watch the link colour strip: green is good, amber is fair, red is poor.',
      'calls.viewOnlyWhy': 'Your account may only view the conference status. To join or leave, sign in with an operator or chair account.',
      'calls.empty': 'No conference bridges are configured at this site.',
      'calls.kind.janus-videoroom': 'Video conference (Janus)',
      'calls.kind.sip': 'Conference over SIP',
      'calls.kind.whip': 'Video conference (WHIP)',
      'calls.room': 'room {room}',
      'calls.join': 'Join the conference',
      'calls.leave': 'Leave the conference',
      'calls.confirmLeave': 'Leave the conference?',
      'calls.confirmLeaveText': 'This room will no longer hear or see the other sites, nor be heard or seen by them, until it joins again.',
      'calls.joined': 'Joined',
      'calls.left': 'Left the conference',
      'calls.startedBy': 'Joined by: {user}',
      'calls.unusable': 'This conference bridge cannot be used yet; a technician needs to check its settings.',
      'calls.state.idle': 'Not joined',
      'calls.state.connecting': 'Connecting…',
      'calls.state.connected': 'Connected',
      'calls.state.degraded': 'Poor quality',
      'calls.state.recovering': 'Recovering by itself…',
      'calls.state.dropped': 'Disconnected',
      'calls.state.ended': 'Ended',
      'calls.state.unusable': 'Unusable',
      'calls.watch': 'Watch the conference',
      'calls.watchStop': 'Stop watching',
      'calls.unmute': 'Sound on',
      'calls.mute': 'Sound off',
      'calls.fullscreen': 'Full screen',
      'calls.playoutTitle': 'Conference picture',
      'calls.playoutConnecting': 'Opening the conference picture…',
      'calls.playoutPlaying': 'Playing. Sound is off; press “Sound on” to hear it.',
      'calls.playoutPlayingSound': 'Playing with sound.',
      'calls.playoutFailed': 'Could not open the conference picture on this computer. Press “Watch the conference” to try again.',
      'ses.heading': 'Online sessions',
      'ses.empty': 'This site has no sessions yet.',
      'ses.new': 'Create a session',
      'ses.newHeading': 'Create a new session',
      'ses.create': 'Create the session',
      'ses.created': 'Session “{title}” created. Approve it to send the invitations to the sites.',
      'ses.field.title': 'Session title',
      'ses.field.kind': 'Kind of session',
      'ses.field.starts': 'Starts',
      'ses.field.ends': 'Ends',
      'ses.field.secret': 'Secret session (never recorded, encrypted links only)',
      'ses.field.participants': 'Participating sites',
      'ses.field.participantsHint': 'Tick single sites, or “whole branch” to invite a site with every site below it.',
      'ses.field.state': 'State',
      'ses.field.chair': 'Chair site',
      'ses.field.time': 'Time',
      'ses.field.approval': 'Approval',
      'ses.field.secretShort': 'Secret',
      'ses.field.locked': 'Locked',
      'ses.field.rollcall': 'Roll call',
      'ses.noSubtree': 'No site below this one is connected yet.',
      'ses.wholeBranch': 'whole branch',
      'ses.pickSites': 'Choose at least one participating site.',
      'ses.endBeforeStart': 'The end must come after the start.',
      'ses.kind.regular': 'Regular',
      'ses.kind.extraordinary': 'Extraordinary',
      'ses.state.scheduled': 'Scheduled',
      'ses.state.readiness': 'Getting ready',
      'ses.state.live': 'In progress',
      'ses.state.ended': 'Ended',
      'ses.state.cancelled': 'Cancelled',
      'ses.approved': 'Approved',
      'ses.notApproved': 'Not approved',
      'ses.approvedBy': 'Approved ({user})',
      'ses.secret': 'Secret',
      'ses.secretLong': 'Secret session: never recorded, no unencrypted links.',
      'ses.lockedLong': 'Locked: delegations cannot change.',
      'ses.chairedBy': 'Chair: {site}',
      'ses.timeRange': '{start} – {end}',
      'ses.noticeLate': 'Late notice: {message}',
      'ses.ownHeading': 'This site’s part',
      'ses.invitation': 'This site is invited to a session chaired by {chair}, {time}.',
      'ses.inviteChair': 'This site chairs the session.',
      'ses.inviteDelegate': 'This site was delegated control of a branch.',
      'ses.viewOnlyWhy': 'Your account may only view. To answer roll call, ask for the floor or join the conference, sign in with an operator or chair account.',
      'ses.readinessHeading': 'Readiness check',
      'ses.readinessNone': 'Not checked',
      'ses.ready': 'The room is ready.',
      'ses.notReady': 'The room is not ready: see the failed items.',
      'ses.readyShort': 'Passed',
      'ses.notReadyShort': 'Failed',
      'ses.checkedAt': '(checked at {time})',
      'ses.recheck': 'Check again',
      'ses.recheckDone': 'Checked again.',
      'ses.check.devices': 'Devices',
      'ses.check.camera': 'Camera',
      'ses.check.projector': 'Projector',
      'ses.check.mic': 'Microphones',
      'ses.check.bridge': 'Conference link',
      'ses.verdict.ok': 'Passed',
      'ses.verdict.fail': 'Failed',
      'ses.verdict.skip': 'Skipped',
      'ses.rollcallHeading': 'Roll call',
      'ses.rollcallIntro': 'The chair site is taking the roll. Enter the number of attendees and the attendee list (one person per line), then press “Send roll call”.',
      'ses.rollcallCount': 'Number of attendees',
      'ses.rollcallNames': 'Attendees (one per line)',
      'ses.rollcallSubmit': 'Send roll call',
      'ses.rollcallDone': 'Roll call sent.',
      'ses.rollcallSent': '{n} attendees reported.',
      'ses.rollcallBadCount': 'The number of attendees must be a whole number from 0 to 10,000.',
      'ses.rollcallLongName': 'Each name may have at most 120 characters.',
      'ses.rollcallOpen': 'Roll call open',
      'ses.raiseHand': 'Ask for the floor',
      'ses.lowerHand': 'Withdraw the request',
      'ses.handRaised': 'Request sent; wait for the chair to give you the floor.',
      'ses.handLowered': 'Request withdrawn.',
      'ses.youSpeak': 'You have the floor',
      'ses.remaining': '{time} left',
      'ses.overtime': '{time} over time',
      'ses.noBridge': 'No conference bridge is configured at this site, so it cannot join. Please tell a technician.',
      'ses.chairHeading': 'Running the session',
      'ses.approve': 'Approve and send invitations',
      'ses.approvedDone': 'Approved; the invitations are on their way to the sites.',
      'ses.act.readiness': 'Get ready',
      'ses.act.start': 'Start',
      'ses.act.end': 'End',
      'ses.act.cancel': 'Cancel the session',
      'ses.act.rollcallOpen': 'Open roll call',
      'ses.act.rollcallClose': 'Close roll call',
      'ses.act.lock': 'Lock',
      'ses.act.unlock': 'Unlock',
      'ses.act.muteAll': 'Mute all microphones',
      'ses.act.unmuteAll': 'Unmute all microphones',
      'ses.act.mute': 'Mute',
      'ses.act.unmute': 'Unmute',
      'ses.act.preset': 'Go to preset',
      'ses.act.home': 'Home',
      'ses.act.projOn': 'Projector on',
      'ses.act.projOff': 'Projector off',
      'ses.act.check': 'Check readiness',
      'ses.act.delegate': 'Delegate branch',
      'ses.act.undelegate': 'Take back control',
      'ses.presetNumber': 'Camera preset number',
      'ses.badPreset': 'The preset must be from 0 to 255.',
      'ses.confirmEnd': 'End the session?',
      'ses.confirmEndText': 'Every site will see the session as ended; it cannot be reopened.',
      'ses.confirmCancel': 'Cancel the session?',
      'ses.confirmCancelText': 'The invited sites will see the session as cancelled.',
      'ses.floorHeading': 'The floor',
      'ses.speakerNow': 'Speaking: {site}',
      'ses.noSpeaker': 'No site has the floor.',
      'ses.floorNext': 'Next in line',
      'ses.floorRevoke': 'Take back',
      'ses.floorGrant': 'Give the floor',
      'ses.floorLower': 'Remove from queue',
      'ses.queueHeading': 'Waiting to speak',
      'ses.queueEmpty': 'No site is asking for the floor.',
      'ses.gridHeading': 'Sites',
      'ses.col.site': 'Site',
      'ses.col.online': 'Connection',
      'ses.col.readiness': 'Readiness',
      'ses.col.rollcall': 'Roll call',
      'ses.col.hand': 'Floor',
      'ses.col.link': 'Link',
      'ses.col.local': 'Local',
      'ses.col.delegate': 'Delegate',
      'ses.col.result': 'Command result',
      'ses.col.controls': 'Controls',
      'ses.chairSite': 'chair',
      'ses.online': 'Online',
      'ses.offline': 'Offline',
      'ses.attendees': '{n} people',
      'ses.handUp': 'Asking for the floor',
      'ses.speaking': 'Speaking',
      'ses.link.none': 'No data',
      'ses.link.green': 'Good',
      'ses.link.amber': 'Fair',
      'ses.link.red': 'Poor',
      'ses.localOnly': 'Local only',
      'ses.localControl': 'Local control only',
      'ses.localControlOn': 'Local control only is on: commands from the chair site are refused.',
      'ses.localControlSetOn': 'Local control only switched on.',
      'ses.localControlSetOff': 'Local control only switched off; the chair site may control this room again.',
      'ses.resultOk': '{what}: done',
      'ses.resultFail': '{what}: not done. {why}',
      'ses.someFailed': '{what}: {n} of {total} sites could not do it (see the “Command result” column).',
      'ses.did.start': 'Start',
      'ses.did.end': 'End',
      'ses.did.cancel': 'Cancel the session',
      'ses.did.readiness': 'Get ready',
      'ses.did.rollcall.open': 'Open roll call',
      'ses.did.rollcall.close': 'Close roll call',
      'ses.did.floor.grant': 'Give the floor',
      'ses.did.floor.revoke': 'Take back the floor',
      'ses.did.floor.lower': 'Remove from queue',
      'ses.did.mute': 'Microphones',
      'ses.did.mute_all': 'All microphones',
      'ses.did.camera': 'Camera',
      'ses.did.projector': 'Projector',
      'ses.did.lock': 'Lock the session',
      'ses.did.delegate': 'Delegate',
      'ses.did.undelegate': 'Take back control',
      'ses.did.readiness.run': 'Readiness check',
      'ses.code.site_offline': 'The site is offline.',
      'ses.code.not_chair': 'The command did not come from the chair site or a delegate.',
      'ses.code.local_control_only': 'The site is in local-control-only mode.',
      'ses.code.session_not_live': 'The session is not in progress.',
      'ses.code.command_timeout': 'The site did not answer in time.',
      'ses.code.partial': 'Only partly done.',
      'ses.code.device_not_found': 'The site has no such device.',
      'ses.code.no_device': 'The site has no such device.',
      'ses.grp.mic': 'Microphones',
      'ses.grp.camera': 'Camera, preset no.',
      'ses.grp.projector': 'Projector',
      'ses.grp.other': 'Other',
      'link.heading': 'Link',
      'link.health.green': 'Good link',
      'link.health.amber': 'Fair link',
      'link.health.red': 'Poor link',
      'link.health.grey': 'No link figures yet',
      'link.metric': 'Figure',
      'link.send': 'Sending',
      'link.recv': 'Receiving',
      'link.audio': 'audio',
      'link.video': 'video',
      'link.loss': 'Packet loss',
      'link.jitter': 'Jitter',
      'link.rtt': 'Round-trip time',
      'link.bitrate': 'Bitrate',
      'link.fps': 'Frames per second',
      'link.mos': 'Quality score (MOS)',
      'link.mosHint': 'Scale 1–5; 4 or more is good.',
      'link.noSamples': 'Waiting for link measurements…',
      'events.heading': 'Recent events',
      'events.none': 'Nothing has happened yet.',
      'events.connected': 'Connected to the conference',
      'events.connectedAgain': 'Quality back to normal',
      'events.degraded': 'Link quality dropped',
      'events.dropped': 'Lost the conference',
      'events.recovery_step': 'Reconnecting by itself, attempt {n}',
      'events.recovery_stepDelay': 'Reconnecting by itself, attempt {n} (in {s} s)',
      'events.recovered': 'Reconnected',
      'events.recoveredAfter': 'Reconnected after {s} s of interruption',
      'events.ended': 'Left the conference',
      'events.ringing': 'Ringing',
      'events.renegotiated': 'Audio and video renegotiated',
      'inc.reportProblem': 'Report a problem',
      'inc.viewOnlyWhy': 'Your role may only view incidents; an operator or the chair takes them in hand.',
      'inc.new.intro': 'Report a problem in the room the system has not noticed by itself (a silent microphone, a blank screen). It is sent up to the upper level.',
      'inc.new.title': 'What is wrong (short)',
      'inc.new.description': 'More detail (optional)',
      'inc.new.severity': 'Severity',
      'inc.new.submit': 'Send the report',
      'inc.new.done': 'Incident “{title}” recorded.',
      'inc.new.titleMissing': 'Please say in a few words what is wrong.',
      'inc.sev.minor': 'Minor',
      'inc.sev.major': 'Major',
      'inc.sev.critical': 'Critical',
      'inc.state.open': 'Open',
      'inc.state.acknowledged': 'Acknowledged',
      'inc.state.resolved': 'Resolved',
      'inc.filter.state': 'Show',
      'inc.filter.unresolved': 'Not yet resolved',
      'inc.filter.all': 'All',
      'inc.filter.scope': 'Scope',
      'inc.filter.subtree': 'This site and the sites below',
      'inc.filter.local': 'This site only',
      'inc.col.severity': 'Severity',
      'inc.col.title': 'Incident',
      'inc.col.site': 'Site',
      'inc.col.state': 'State',
      'inc.col.opened': 'Opened',
      'inc.col.restore': 'Time to restore',
      'inc.col.clocks': 'Reporting deadlines',
      'inc.emptyUnresolved': 'No open incidents.',
      'inc.emptyAll': 'No incidents yet.',
      'inc.updated': 'Updated at {time}',
      'inc.causedBy': 'caused by: {title}',
      'inc.ongoing': 'Ongoing ({d})',
      'inc.dur.d': '{n} d',
      'inc.dur.h': '{n} h',
      'inc.dur.m': '{n} min',
      'inc.dur.s': '{n} s',
      'inc.clock.noticeLate': 'First notice overdue',
      'inc.clock.reportLate': 'Full report overdue',
      'inc.clock.noticeDue': 'Notice by {time}',
      'inc.clock.reportDue': 'Report by {time}',
      'inc.clock.allSent': 'All sent',
      'inc.clock.sent': 'Sent at {time}',
      'inc.clock.due': 'Due {time}, not sent',
      'inc.clock.late': 'OVERDUE since {time}',
      'inc.fact.site': 'Site of origin',
      'inc.fact.subject': 'Subject',
      'inc.fact.opened': 'Opened',
      'inc.fact.acknowledged': 'Acknowledged',
      'inc.fact.resolved': 'Resolved',
      'inc.fact.restore': 'Time to restore',
      'inc.fact.notice': 'First notice (24 h)',
      'inc.fact.report': 'Full report (72 h)',
      'inc.fact.session': 'Session',
      'inc.fact.cause': 'Common cause',
      'inc.fact.resolution': 'Resolution',
      'inc.by': '{time} ({who})',
      'inc.timeline': 'Timeline',
      'inc.tl.onset': 'Detected',
      'inc.tl.recovery': 'Automatic recovery',
      'inc.tl.note': 'Note',
      'inc.tl.acknowledged': 'Acknowledged',
      'inc.tl.resolved': 'Resolved',
      'inc.tl.notice_sent': 'First notice sent',
      'inc.tl.report_sent': 'Full report sent',
      'inc.tl.reopened': 'Came back',
      'inc.actions': 'Handle the incident',
      'inc.acknowledge': 'Acknowledge',
      'inc.noteLabel': 'New note',
      'inc.note': 'Add note',
      'inc.resolveLabel': 'What was done to fix it',
      'inc.resolve': 'Resolved',
      'inc.sentNotice': 'First notice sent',
      'inc.sentReport': 'Full report sent',
      'inc.done.acknowledge': 'Incident acknowledged.',
      'inc.done.note': 'Note added.',
      'inc.done.resolve': 'Incident resolved.',
      'inc.done.notice': 'Recorded: the first notice was sent.',
      'inc.done.report': 'Recorded: the full report was sent.',
      'inc.noteEmpty': 'Please type the note.',
      'inc.otherSite': 'An incident of {site}: view only here; that site takes it in hand.',
      'inc.reports': 'Incident report:',
      'inc.report.html': 'View, print (HTML)',
      'inc.report.pdf': 'Download PDF',
      'inc.report.json': 'Data (JSON)',
      'inc.close': 'Close',
      'inc.gone': 'This incident is no longer at this site.',
      'rep.intro': "The periodic report of this site's attendance at online conferences, its incidents and equipment upkeep, for the level above.",
      'rep.kind': 'Reporting period',
      'rep.kind.H1': 'First half of the year',
      'rep.kind.H2': 'Second half of the year',
      'rep.kind.year': 'Whole year',
      'rep.kind.range': 'Other dates',
      'rep.year': 'Year',
      'rep.from': 'From',
      'rep.to': 'To (included)',
      'rep.scope': 'Scope',
      'rep.scope.site': 'This site only',
      'rep.scope.subtree': 'With the sites below it',
      'rep.number': 'Document number (optional)',
      'rep.view': 'View',
      'rep.periodHint': "Periods close on the cut-off day of their last month (usually the 15th): the second half runs from 15 June to 14 December included.",
      'rep.rangeMissing': 'Please choose both the first and the last day.',
      'rep.rangeOrder': 'The last day must not come before the first.',
      'rep.denied': 'Your role ({role}) cannot read periodic reports. They are for administrators, auditors, chairs and operators; ask an administrator if you need one.',
      'rep.title': 'Report {period}: {site}',
      'rep.label.H1': 'First half of {year}',
      'rep.label.H2': 'Second half of {year}',
      'rep.label.year': 'Year {year}',
      'rep.label.range': '{start} to {end}',
      'rep.fact.period': 'Dates',
      'rep.fact.cutoff': 'Cut-off: day {day} of the closing month',
      'rep.fact.scope': 'Scope',
      'rep.fact.number': 'Document number',
      'rep.fact.generated': 'Generated at',
      'rep.download': 'Download:',
      'rep.download.pdf': 'PDF',
      'rep.download.xlsx': 'Excel (XLSX)',
      'rep.download.csv': 'CSV',
      'rep.download.json': 'Data (JSON)',
      'rep.markFiled': 'Mark as filed',
      'rep.fileConfirmTitle': 'Mark the {period} report as filed?',
      'rep.fileConfirmText': "Only mark it once the report has been sent to the level above. The period's old records may then be purged under the retention policy.",
      'rep.fileOk': 'Mark as filed',
      'rep.filed': 'The {period} report is marked as filed.',
      'rep.totals': 'Totals',
      'rep.rowsHeading': 'Site by site',
      'rep.noRows': 'No data in this period.',
      'rep.tot.sites': 'Sites',
      'rep.tot.sessions': 'Sessions attended / invited',
      'rep.tot.hosted': 'Sessions hosted',
      'rep.col.site': 'Site',
      'rep.col.invited': 'Sessions invited',
      'rep.col.attended': 'Sessions attended',
      'rep.col.attendance': 'Attendance',
      'rep.col.onTime': 'On time',
      'rep.col.readiness': 'Readiness checks passed',
      'rep.col.hours': 'Hours connected',
      'rep.col.incidents': 'Incidents',
      'rep.col.mttr': 'Mean time to restore (min)',
      'rep.col.availability': 'Availability',
      'rep.col.maintenance': 'Maintenance due',
      'rep.noMaintenance': 'None',
    },
  };

  const LANGS = ['vi', 'en'];
  const LANG_KEY = 'diemcau.lang';
  const ROLES = ['admin', 'operator', 'chair', 'viewer', 'auditor'];
  // Sections in nav order; `roles` limits who sees one (the server enforces it too).
  const SECTIONS = [
    { id: 'overview', load: () => loadSite() },
    { id: 'devices', load: () => startDevices(), unload: () => stopDevices() },
    { id: 'sessions', load: () => { startMeetings(); startCalls(); },
      unload: () => { stopMeetings(); stopCalls(); stopPlayout(); } },
    { id: 'incidents', load: () => startIncidents(), unload: () => stopIncidents() },
    { id: 'reports', load: () => openReports() },
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
    devices: freshDevices(),
    calls: freshCalls(),
    playout: null, // { card, pc }: the conference this page is playing
    meetings: freshMeetings(),
    incidents: freshIncidents(),
    reports: { seq: 0, report: null, query: null, ready: false },
  };

  // The device panel's state; `cards` maps a device id to its card (kept across polls, so a
  // control being used keeps its focus and value).
  function freshDevices() {
    return { list: [], cards: new Map(), loaded: false, timer: null, refreshTimer: null, seq: 0,
      updatedAt: null, stale: false, pollError: null, commandError: null };
  }

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
      rebuildDevices();
      rebuildCalls();
      rebuildMeetings();
      rebuildIncidents();
      renderReportForm();
      renderReport();
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

  // `detail` is the server's technical text, shown small under "Chi tiết kỹ thuật".
  function showError(message, detail) {
    $('alert').textContent = message;
    const extra = detail && detail !== message ? String(detail) : '';
    $('alert-detail-text').textContent = extra;
    $('alert-detail').hidden = !extra;
    $('alert-detail').open = false;
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
    $('alert-detail-text').textContent = '';
    $('alert-detail').hidden = true;
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
    else showError(message, err instanceof ApiError ? err.detail : null);
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message, detail) {
      super(message);
      this.status = status;
      this.code = code;
      this.detail = detail || null;
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
    // Automatic refreshes must not keep an unattended console logged in.
    if (opts.background) init.headers['X-Diemcau-Background'] = '1';

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
    const err = new ApiError(res.status, typeof info.code === 'string' ? info.code : '', message,
      typeof info.detail === 'string' ? info.detail : null);
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
    stopDevices();
    state.devices = freshDevices();
    $('device-grid').replaceChildren();
    stopCalls();
    stopPlayout();
    state.calls = freshCalls();
    $('bridge-list').replaceChildren();
    $('calls-updated').textContent = '';
    resetMeetings();
    resetIncidents();
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
    const previous = SECTIONS.find((s) => s.id === state.section);
    if (previous && previous !== section && previous.unload) previous.unload();
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

  // ---------------------------------------------------------------- devices

  const DEVICE_POLL_MS = 3000;
  const REFRESH_AFTER_COMMAND_MS = 400;
  const COMMAND_ROLES = ['operator', 'chair'];
  const DEVICE_STATES = ['online', 'offline', 'unknown', 'unusable'];
  const DONE_MS = 2500;
  // A value the officer just set is shown until the readings catch up (or this long).
  const EXPECT_MS = 8000;
  const GAIN_DEBOUNCE_MS = 300;
  const GAIN = { min: -60, max: 12, step: 0.5 };
  const PRESET_MAX = 15;
  const DEFAULT_PRESETS = [1, 2, 3, 4, 5, 6];
  const PROJECTOR_SOURCES = ['HDMI1', 'HDMI2', 'RGB1', 'VIDEO1', 'NETWORK1'];
  const PROJECTOR_PARTS = ['fan', 'lamp', 'temperature', 'cover', 'filter', 'other'];
  // Pan/tilt of each pad direction: up raises the tilt, right raises the pan.
  const DIRECTIONS = { up: [0, 1], down: [0, -1], left: [-1, 0], right: [1, 0] };
  const ARROW_KEYS = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' };

  let domSeq = 0; // element ids made here never come from device ids (those are free text)
  const domId = (prefix) => `${prefix}-${++domSeq}`;

  const canCommand = () => state.user !== null && COMMAND_ROLES.includes(state.user.role);
  const devicesShown = () => state.user !== null && state.section === 'devices' &&
    document.visibilityState !== 'hidden';

  function startDevices() {
    $('devices-readonly').hidden = canCommand();
    loadDevices();
  }

  function stopDevices() {
    const d = state.devices;
    clearTimeout(d.timer);
    clearTimeout(d.refreshTimer);
    d.timer = null;
    d.refreshTimer = null;
    d.seq += 1; // an answer still on its way is dropped
    haltAllMotion();
  }

  function haltAllMotion() {
    for (const card of state.devices.cards.values()) card.halt();
  }

  async function loadDevices() {
    const d = state.devices;
    clearTimeout(d.timer);
    d.timer = null;
    const seq = ++d.seq;
    let data;
    try {
      data = await api('GET', '/api/v1/devices', undefined, { background: true });
    } catch (err) {
      if (seq === d.seq && !err.handled) {
        d.stale = true;
        renderUpdated();
        // Said once, not every 3 seconds while the link is down.
        if (err.message !== d.pollError) reportError(err);
        d.pollError = err.message;
      }
      return;
    } finally {
      if (seq === d.seq && devicesShown()) d.timer = setTimeout(loadDevices, DEVICE_POLL_MS);
    }
    if (seq !== d.seq) return; // a newer request replaced this one
    d.list = Array.isArray(data.devices) ? data.devices.filter((x) => x && x.id !== undefined) : [];
    d.loaded = true;
    d.updatedAt = new Date();
    d.stale = false;
    if (d.pollError !== null) {
      if ($('alert').textContent === d.pollError) clearError();
      d.pollError = null;
    }
    renderDevices();
  }

  // Readings change right after a command: look again soon rather than in 3 s.
  function refreshDevicesSoon() {
    const d = state.devices;
    clearTimeout(d.refreshTimer);
    d.refreshTimer = setTimeout(() => {
      d.refreshTimer = null;
      if (devicesShown()) loadDevices();
    }, REFRESH_AFTER_COMMAND_MS);
  }

  function renderUpdated() {
    const d = state.devices;
    const node = $('devices-updated');
    if (!d.updatedAt) {
      node.textContent = '';
      return;
    }
    const at = `${pad2(d.updatedAt.getHours())}:${pad2(d.updatedAt.getMinutes())}:${pad2(d.updatedAt.getSeconds())}`;
    node.textContent = t(d.stale ? 'dev.stale' : 'dev.updated', { time: at });
    node.classList.toggle('warn', d.stale);
  }

  function renderDevices() {
    const d = state.devices;
    $('devices-loading').hidden = d.loaded;
    $('devices-empty').hidden = !d.loaded || d.list.length > 0;
    $('devices-readonly').hidden = canCommand();
    renderUpdated();
    const seen = new Set();
    const roots = [];
    for (const dev of d.list) {
      const id = String(dev.id);
      if (seen.has(id)) continue;
      seen.add(id);
      let card = d.cards.get(id);
      if (card && card.kind !== String(dev.kind ?? '')) {
        card.halt();
        card = undefined;
      }
      if (!card) {
        card = makeCard(dev);
        d.cards.set(id, card);
      }
      updateCard(card, dev);
      roots.push(card.root);
    }
    for (const [id, card] of d.cards) {
      if (!seen.has(id)) {
        card.halt();
        d.cards.delete(id);
      }
    }
    placeChildren($('device-grid'), roots);
    renderPowerAlarm();
  }

  // A UPS on battery is said at the top too: its card may be below the fold.
  function renderPowerAlarm() {
    const lines = [];
    for (const dev of state.devices.list) {
      const r = dev.readings;
      if (dev.kind !== 'power' || !r || r.on_battery !== true) continue;
      const minutes = num(r.runtime_minutes);
      lines.push(t(minutes === null ? 'ups.alarmLine' : 'ups.alarmLineMinutes',
        { name: String(dev.name || dev.id), n: minutes === null ? '' : fmtNum(minutes, 0) }));
    }
    const node = $('devices-power-alarm');
    const text = lines.join(' ');
    if (node.textContent !== text) node.textContent = text;
    node.hidden = !text;
  }

  // Puts `nodes` in `parent` in order, touching the DOM only when the order changed: moving a
  // node takes the focus away from a control inside it.
  function placeChildren(parent, nodes) {
    const current = Array.from(parent.children);
    if (current.length === nodes.length && current.every((n, i) => n === nodes[i])) return;
    parent.replaceChildren(...nodes);
  }

  // After a language switch: build every card again from the last readings.
  function rebuildDevices() {
    const d = state.devices;
    for (const card of d.cards.values()) card.halt();
    d.cards.clear();
    $('device-grid').replaceChildren();
    if (d.loaded) renderDevices();
  }

  // -- numbers

  function num(value) {
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  }

  function fmtNum(value, digits = 1) {
    return new Intl.NumberFormat(state.lang === 'vi' ? 'vi-VN' : 'en-GB',
      { maximumFractionDigits: digits }).format(value);
  }

  function fmtSigned(value, digits = 2) {
    const text = fmtNum(Math.abs(value), digits);
    if (Math.abs(value) < 0.005) return text;
    return (value < 0 ? '−' : '+') + text; // a real minus sign, readable at a distance
  }

  const fmtDb = (db) => (db === null ? t('common.none') : fmtSigned(db, 1) + ' dB');
  const fmtPercent = (v) => (v === null ? t('common.none') : fmtNum(v, 0) + '%');

  function fmtSpeed(bps) {
    if (bps === null || bps <= 0) return t('common.none');
    for (const [unit, size] of [['Gbit/s', 1e9], ['Mbit/s', 1e6], ['kbit/s', 1e3]]) {
      if (bps >= size) return fmtNum(bps / size, 1) + ' ' + unit;
    }
    return fmtNum(bps, 0) + ' bit/s';
  }

  // -- cards

  function makeCard(dev) {
    const id = String(dev.id);
    const kind = String(dev.kind ?? '');
    const title = el('h2', { id: domId('dev-title'), className: 'device-name' });
    const kindLine = el('p', { className: 'device-kind' });
    const stateWord = el('span', { className: 'state-word' });
    const stateBox = el('p', { className: 'device-state', 'data-testid': 'device-state-' + id },
      [el('span', { className: 'dot', 'aria-hidden': 'true' }), stateWord]);
    const problem = el('div', { className: 'device-problem', hidden: true });
    const feedback = el('p', { className: 'device-feedback', role: 'status', 'data-testid': 'device-feedback-' + id });
    const body = el('div', { className: 'device-body' });
    const root = el('article', {
      className: 'device-card kind-' + kind.replace(/[^a-z]/g, ''),
      'data-testid': 'device-card-' + id,
      'aria-labelledby': title.id,
    }, [
      // The answer to a command shows by the state, where the eye is, not at the card's foot.
      el('header', { className: 'device-head' }, [
        el('div', { className: 'device-title' }, [title, kindLine]),
        el('div', { className: 'device-status' }, [stateBox, feedback]),
      ]),
      problem,
      body,
    ]);
    const card = {
      id, kind, dev, root, body,
      parts: { title, kindLine, stateBox, stateWord, problem, feedback },
      controls: new Set(),
      expected: new Map(),
      feedbackTimer: null,
      updateBody: () => {},
      halt: () => {},
    };
    (BUILDERS[kind] || buildGeneric)(card);
    return card;
  }

  function updateCard(card, dev) {
    card.dev = dev;
    const p = card.parts;
    p.title.textContent = String(dev.name || dev.id);
    p.kindLine.textContent = label('dev.kind', card.kind) + (dev.protocol ? ' · ' + String(dev.protocol) : '');
    const st = DEVICE_STATES.includes(dev.state) ? dev.state : 'unknown';
    card.root.dataset.state = st;
    p.stateBox.dataset.state = st;
    p.stateWord.textContent = t('dev.state.' + st);

    const lines = [];
    if (st === 'offline') {
      lines.push(el('p', { text: dev.since ? t('dev.offlineSince', { time: formatTime(dev.since) }) : t('dev.offline') }));
      if (dev.last_ok) lines.push(el('p', { text: t('dev.lastOk', { time: formatTime(dev.last_ok) }) }));
    } else if (st === 'unusable') {
      lines.push(el('p', { text: t('dev.unusable') }));
    }
    if ((st === 'offline' || st === 'unusable') && dev.last_error) {
      lines.push(el('p', { className: 'tech', text: t('dev.lastError', { error: String(dev.last_error) }) }));
    }
    p.problem.replaceChildren(...lines);
    p.problem.hidden = lines.length === 0;

    const readings = dev.readings && typeof dev.readings === 'object' ? dev.readings : {};
    card.updateBody(readings, dev);
    refreshControls(card);
  }

  const rerender = (card) => updateCard(card, card.dev);

  // A control of a card: disabled for read-only roles, for an unusable device, and when its own
  // `when()` says so (a projector that is off has no input to choose).
  function control(card, node, when) {
    node._when = when || null;
    card.controls.add(node);
    return node;
  }

  function refreshControls(card) {
    const allowed = canCommand() && card.dev.state !== 'unusable';
    for (const node of card.controls) {
      node.disabled = !allowed || (node._when !== null && !node._when());
      // A busy button keeps its focus (aria-disabled, not disabled) and ignores presses.
      if (node.tagName === 'BUTTON' && node._busy > 0) node.setAttribute('aria-disabled', 'true');
      else node.removeAttribute('aria-disabled');
    }
  }

  const isBusy = (node) => (node._busy || 0) > 0;

  function setBusy(card, node, delta) {
    node._busy = Math.max(0, (node._busy || 0) + delta);
    node.classList.toggle('is-busy', node._busy > 0);
    if (node._busy > 0) node.setAttribute('aria-busy', 'true');
    else node.removeAttribute('aria-busy');
    refreshControls(card);
  }

  function flash(card, text, kind) {
    const f = card.parts.feedback;
    f.textContent = text;
    f.dataset.kind = kind;
    clearTimeout(card.feedbackTimer);
    card.feedbackTimer = setTimeout(() => {
      f.textContent = '';
      delete f.dataset.kind;
    }, kind === 'error' ? DONE_MS * 3 : DONE_MS);
  }

  // Sends one contract command; `busyNode` shows the spinner meanwhile. Resolves to the
  // answer, or null after showing the server's message.
  async function sendCommand(card, busyNode, command, args, opts = {}) {
    const epoch = state.epoch;
    const d = state.devices;
    setBusy(card, busyNode, +1);
    try {
      const body = await api('POST', '/api/v1/devices/' + encodeURIComponent(card.id) + '/commands',
        { command, args });
      if (epoch !== state.epoch) return null;
      if (!opts.quiet) flash(card, t('dev.done'), 'ok');
      // The alert about this device's last failure goes once a command of it works again.
      if (d.commandError && d.commandError.card === card.id) {
        if ($('alert').textContent === d.commandError.message) clearError();
        d.commandError = null;
      }
      refreshDevicesSoon();
      return body;
    } catch (err) {
      if (epoch !== state.epoch || err.handled) return null;
      reportError(err);
      d.commandError = { card: card.id, message: err.message };
      flash(card, t('dev.failed'), 'error');
      return null;
    } finally {
      setBusy(card, busyNode, -1);
    }
  }

  // Runs `send(value)` for the latest value only, one at a time and in order: a slider sends
  // its last position, and a camera's "stop" never overtakes its "move".
  function latestOnly(send) {
    let running = false;
    let pending = false;
    let wanted;
    return async (value) => {
      wanted = value;
      pending = true;
      if (running) return;
      running = true;
      try {
        while (pending) {
          pending = false;
          await send(wanted);
        }
      } finally {
        running = false;
      }
    };
  }

  function expectValue(card, key, value, accepts) {
    card.expected.set(key, { value, accepts, until: Date.now() + EXPECT_MS });
  }

  // The value to show: one just set wins until the device reports it (or the wait is over).
  function shown(card, key, actual) {
    const e = card.expected.get(key);
    if (!e) return actual;
    if (Date.now() > e.until || e.accepts(actual)) {
      card.expected.delete(key);
      return actual;
    }
    return e.value;
  }

  const near = (target, tolerance) => (v) => num(v) !== null && Math.abs(v - target) <= tolerance;
  const equals = (target) => (v) => v === target;

  // Confirmation in the page's own dialog; resolves true when the officer agrees.
  function confirmAction(title, text, okLabel) {
    const dlg = $('dlg-confirm');
    if (dlg.open) return Promise.resolve(false);
    $('dlg-confirm-title').textContent = title;
    $('dlg-confirm-text').textContent = text || '';
    $('dlg-confirm-text').hidden = !text;
    $('confirm-ok').textContent = okLabel || t('dev.confirm');
    dlg.returnValue = '';
    return new Promise((resolve) => {
      dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
      dlg.showModal();
      $('confirm-cancel').focus(); // the safe choice is the default one
    });
  }

  function actionBtn(card, opts, onPress, when) {
    const b = control(card, el('button', { type: 'button', className: 'btn ' + (opts.className || ''), 'data-testid': opts.testid, text: opts.text }), when);
    b.addEventListener('click', () => {
      if (b.disabled || isBusy(b)) return;
      onPress(b);
    });
    return b;
  }

  // A button that acts while held: pointer down/up, or Enter/Space down/up when focused.
  function holdButton(node, press, release) {
    let held = false;
    const down = () => {
      if (held || node.disabled) return;
      held = true;
      node.classList.add('is-held');
      press();
    };
    const up = () => {
      if (!held) return;
      held = false;
      node.classList.remove('is-held');
      release();
    };
    node.addEventListener('pointerdown', (e) => {
      if (e.button === 0) down();
    });
    for (const type of ['pointerup', 'pointerleave', 'pointercancel', 'blur']) node.addEventListener(type, up);
    node.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ') return;
      e.preventDefault();
      if (!e.repeat) down();
    });
    node.addEventListener('keyup', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ') return;
      e.preventDefault();
      up();
    });
    node.addEventListener('contextmenu', (e) => e.preventDefault()); // long press on a tablet
    return { down, up };
  }

  // `attrs` gives min, max, step and value: attributes are set in order, and a range input
  // clamps its value to each bound as it is set, so the value must come last.
  function rangeField(labelText, attrs) {
    const input = el('input', { type: 'range', id: domId('range'), ...attrs });
    input.value = attrs.value;
    const lab = el('label', { for: input.id, id: domId('label'), text: labelText });
    const out = el('output', { for: input.id, className: 'range-value', 'aria-hidden': 'true' });
    const wrap = el('div', { className: 'field range-field' }, [el('div', { className: 'range-head' }, [lab, out]), input]);
    return { wrap, input, out, lab };
  }

  function setRangeText(r, text) {
    r.out.textContent = text;
    r.input.setAttribute('aria-valuetext', text);
  }

  function factsList(rows) {
    return el('dl', { className: 'mini-facts' }, rows.map(([dt, dd, cls]) =>
      el('div', { className: cls || '' }, [el('dt', { text: dt }), el('dd', { text: dd })])));
  }

  // -- camera

  function buildCamera(card) {
    const id = card.id;
    const powered = () => shown(card, 'power', card.dev.readings && card.dev.readings.power) !== 'off';
    card.speed = 0.5;

    // Direction pad and zoom: press and hold.
    const pad = el('div', { className: 'ptz-pad', role: 'group', id: domId('pad') });
    const hint = el('p', { className: 'hint', id: domId('hint'), text: t('cam.padHint') });
    pad.setAttribute('aria-label', t('cam.pad'));
    pad.setAttribute('aria-describedby', hint.id);
    const motionBox = el('div', { className: 'motion' }, [pad]);
    const held = new Set();
    const sendMotion = latestOnly(async (target) => {
      if (target === null) await sendCommand(card, motionBox, 'ptz.stop', {}, { quiet: true });
      else await sendCommand(card, motionBox, 'ptz.move', target, { quiet: true });
    });
    const motionChanged = () => {
      let pan = 0;
      let tilt = 0;
      for (const dir of held) {
        pan += DIRECTIONS[dir][0];
        tilt += DIRECTIONS[dir][1];
      }
      pan = Math.max(-1, Math.min(1, pan));
      tilt = Math.max(-1, Math.min(1, tilt));
      sendMotion(pan === 0 && tilt === 0 ? null : { pan, tilt, speed: card.speed });
    };
    const holds = {};
    const dirButtons = {};
    const arrow = { up: '▲', down: '▼', left: '◀', right: '▶' };
    const cells = [];
    for (const dir of ['up', 'left', 'home', 'right', 'down']) {
      if (dir === 'home') {
        const home = actionBtn(card, { className: 'ptz-btn ptz-home', testid: 'ptz-home-' + id },
          (b) => sendCommand(card, b, 'home', {}), powered);
        home.append(el('span', { className: 'glyph', 'aria-hidden': 'true', text: '⌂' }), el('span', { className: 'cap', text: t('cam.home') }));
        cells.push(home);
        continue;
      }
      const b = control(card, el('button', { type: 'button', className: 'btn ptz-btn ptz-' + dir, 'data-testid': `ptz-${dir}-${id}` }), powered);
      b.append(el('span', { className: 'glyph', 'aria-hidden': 'true', text: arrow[dir] }), el('span', { className: 'cap', text: t('cam.' + dir) }));
      dirButtons[dir] = b;
      holds[dir] = holdButton(b,
        () => { held.add(dir); motionChanged(); },
        () => { if (held.delete(dir)) motionChanged(); });
      cells.push(b);
    }
    pad.append(...cells);
    // Arrow keys drive the camera while the pad has the focus (two arrows: diagonal).
    pad.addEventListener('keydown', (e) => {
      const dir = ARROW_KEYS[e.key];
      if (!dir) return;
      e.preventDefault();
      if (!e.repeat && !dirButtons[dir].disabled) {
        held.add(dir);
        dirButtons[dir].classList.add('is-held');
        motionChanged();
      }
    });
    pad.addEventListener('keyup', (e) => {
      const dir = ARROW_KEYS[e.key];
      if (!dir) return;
      e.preventDefault();
      dirButtons[dir].classList.remove('is-held');
      if (held.delete(dir)) motionChanged();
    });
    const releaseAll = () => {
      for (const b of Object.values(dirButtons)) b.classList.remove('is-held');
      if (held.size) {
        held.clear();
        motionChanged();
      }
    };
    pad.addEventListener('focusout', (e) => {
      if (!pad.contains(e.relatedTarget)) releaseAll();
    });

    const zoomHeld = new Set();
    const sendZoom = latestOnly(async (direction) => {
      await sendCommand(card, motionBox, 'zoom', direction === 'stop' ? { direction } : { direction, speed: card.speed }, { quiet: true });
    });
    const zoomChanged = () => sendZoom(zoomHeld.size === 1 ? [...zoomHeld][0] : 'stop');
    const zoomRow = el('div', { className: 'zoom-row' });
    const zoomHolds = {};
    for (const [dir, glyph, key] of [['out', '−', 'cam.zoomOut'], ['in', '+', 'cam.zoomIn']]) {
      const b = control(card, el('button', { type: 'button', className: 'btn zoom-btn', 'data-testid': `zoom-${dir}-${id}` }), powered);
      b.append(el('span', { className: 'glyph', 'aria-hidden': 'true', text: glyph }), el('span', { text: t(key) }));
      zoomHolds[dir] = holdButton(b,
        () => { zoomHeld.add(dir); zoomChanged(); },
        () => { if (zoomHeld.delete(dir)) zoomChanged(); });
      zoomRow.append(b);
    }

    const speed = rangeField(t('cam.speed'), { min: '0.1', max: '1', step: '0.1', value: '0.5', 'data-testid': 'ptz-speed-' + id });
    control(card, speed.input);
    speed.input.value = String(card.speed);
    setRangeText(speed, fmtPercent(card.speed * 100));
    speed.input.addEventListener('input', () => {
      card.speed = Number(speed.input.value);
      setRangeText(speed, fmtPercent(card.speed * 100));
    });

    const offHint = el('p', { className: 'hint warn', text: t('cam.offHint'), hidden: true });
    motionBox.replaceChildren(pad, hint, offHint, zoomRow, speed.wrap);

    // Presets.
    const presetGrid = el('div', { className: 'preset-grid' });
    const presetButtons = new Map();
    const presetHeading = el('h3', { id: domId('presets'), text: t('cam.presets') });
    presetGrid.setAttribute('role', 'group');
    presetGrid.setAttribute('aria-labelledby', presetHeading.id);
    const presetNames = () => {
      const names = new Map();
      for (const p of Array.isArray(card.dev.presets) ? card.dev.presets : []) {
        if (p && Number.isInteger(p.preset)) names.set(p.preset, p.name ? String(p.name) : '');
      }
      return names;
    };
    const renderPresets = () => {
      const names = presetNames();
      const slots = [...new Set([...DEFAULT_PRESETS, ...names.keys()])].sort((a, b) => a - b);
      const nodes = [];
      for (const n of slots) {
        let b = presetButtons.get(n);
        if (!b) {
          b = actionBtn(card, { className: 'preset-btn', testid: `preset-recall-${id}-${n}` },
            (btn) => sendCommand(card, btn, 'preset.recall', { preset: n }), powered);
          presetButtons.set(n, b);
        }
        const name = names.get(n);
        b.textContent = name || t('cam.presetN', { n });
        b.classList.toggle('named', Boolean(name));
        b.title = name ? `${t('cam.presetN', { n })}: ${name}` : '';
        nodes.push(b);
      }
      for (const [n, b] of presetButtons) {
        if (!slots.includes(n)) {
          presetButtons.delete(n);
          card.controls.delete(b);
        }
      }
      placeChildren(presetGrid, nodes);
    };

    const numberInput = control(card, el('input', { type: 'number', id: domId('pnum'), min: '0', max: String(PRESET_MAX), step: '1', inputmode: 'numeric', 'data-testid': 'preset-number-' + id }));
    const nameInput = control(card, el('input', { type: 'text', id: domId('pname'), maxlength: '64', autocomplete: 'off', 'data-testid': 'preset-name-' + id }));
    const storeBtn = control(card, el('button', { type: 'submit', className: 'btn btn-primary', 'data-testid': 'preset-store-' + id, text: t('cam.store') }));
    const storeForm = el('form', { className: 'preset-store', novalidate: true }, [
      el('h3', { text: t('cam.storeHeading') }),
      el('div', { className: 'store-row' }, [
        el('div', { className: 'field field-number' }, [el('label', { for: numberInput.id, text: t('cam.presetNumber') }), numberInput]),
        el('div', { className: 'field field-name' }, [el('label', { for: nameInput.id, text: t('cam.presetName') }), nameInput]),
        el('div', { className: 'field field-button' }, [storeBtn]),
      ]),
    ]);
    const nextFree = () => {
      const names = presetNames();
      for (let n = 1; n <= PRESET_MAX; n += 1) if (!names.get(n)) return n;
      return 1;
    };
    numberInput.value = String(nextFree());
    storeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (storeBtn.disabled || isBusy(storeBtn)) return;
      const n = Number(numberInput.value);
      const name = nameInput.value.trim();
      if (numberInput.value.trim() === '' || !Number.isInteger(n) || n < 0 || n > PRESET_MAX) {
        showError(t('cam.numberRange'));
        return numberInput.focus();
      }
      if (!name) {
        showError(t('cam.nameRequired'));
        return nameInput.focus();
      }
      const existing = presetNames().get(n);
      if (existing && !(await confirmAction(t('cam.overwrite', { n }),
        t('cam.overwriteText', { n, name: existing }), t('cam.overwriteOk')))) return;
      const answer = await sendCommand(card, storeBtn, 'preset.store', { preset: n, name });
      if (!answer) return;
      // The server keeps the name; show it now rather than after the next poll.
      const presets = (Array.isArray(card.dev.presets) ? card.dev.presets : []).filter((p) => p && p.preset !== n);
      presets.push({ preset: n, name });
      card.dev = { ...card.dev, presets };
      renderPresets();
      nameInput.value = '';
      numberInput.value = String(nextFree());
    });

    // Zoom position, power, focus.
    const zoom = rangeField(t('cam.zoomLevel'), { min: '0', max: '1', step: '0.01', value: '0', 'data-testid': 'zoom-level-' + id });
    control(card, zoom.input, powered);
    const sendZoomTo = latestOnly(async (position) => {
      expectValue(card, 'zoom', position, near(position, 0.02));
      if (!(await sendCommand(card, zoom.wrap, 'zoom', { position }))) card.expected.delete('zoom');
      rerender(card);
    });
    zoom.input.addEventListener('input', () => {
      zoom.input._editing = true;
      setRangeText(zoom, fmtPercent(Number(zoom.input.value) * 100));
    });
    zoom.input.addEventListener('change', () => {
      zoom.input._editing = false;
      sendZoomTo(Number(zoom.input.value));
    });

    const powerState = el('p', { className: 'cam-power' });
    const powerBtn = actionBtn(card, { testid: 'cam-power-' + id }, async (b) => {
      const on = shown(card, 'power', card.dev.readings && card.dev.readings.power) !== 'on';
      if (!on && !(await confirmAction(t('cam.confirmOff'), t('cam.confirmOffText'), t('cam.powerOff')))) return;
      if (await sendCommand(card, b, 'power', { on })) {
        expectValue(card, 'power', on ? 'on' : 'off', equals(on ? 'on' : 'off'));
        rerender(card);
      }
    });
    const focusBtn = actionBtn(card, { testid: 'cam-focus-auto-' + id, text: t('cam.focusAuto') },
      (b) => sendCommand(card, b, 'focus', { mode: 'auto' }), powered);
    const readout = el('p', { className: 'readout', 'data-testid': 'cam-position-' + id });

    const side = el('div', { className: 'cam-side' }, [
      presetHeading,
      el('p', { className: 'hint', text: t('cam.presetsHint') }),
      presetGrid,
      storeForm,
      zoom.wrap,
      el('div', { className: 'button-row' }, [focusBtn, powerBtn]),
      powerState,
      readout,
    ]);
    card.body.append(el('div', { className: 'cam-layout' }, [motionBox, side]));

    card.updateBody = (r) => {
      renderPresets();
      const power = shown(card, 'power', typeof r.power === 'string' ? r.power : null);
      powerBtn.textContent = power === 'on' ? t('cam.powerOff') : t('cam.powerOn');
      powerState.textContent = power === 'on' || power === 'off' ? t('cam.power.' + power) : '';
      powerState.hidden = !powerState.textContent;
      offHint.hidden = power !== 'off';
      if (!zoom.input._editing) {
        const z = shown(card, 'zoom', num(r.zoom));
        if (z !== null) zoom.input.value = String(z);
        setRangeText(zoom, z === null ? t('common.none') : fmtPercent(z * 100));
      }
      const pan = num(r.pan);
      const tilt = num(r.tilt);
      const z = num(r.zoom);
      readout.textContent = pan === null && tilt === null && z === null ? '' : t('cam.position', {
        pan: pan === null ? t('common.none') : fmtSigned(pan),
        tilt: tilt === null ? t('common.none') : fmtSigned(tilt),
        zoom: z === null ? t('common.none') : fmtPercent(z * 100),
      });
      readout.hidden = !readout.textContent;
    };
    card.halt = () => {
      for (const h of Object.values(holds)) h.up();
      for (const h of Object.values(zoomHolds)) h.up();
      releaseAll();
    };
  }

  // -- projector

  function buildProjector(card) {
    const id = card.id;
    const power = () => shown(card, 'power', card.dev.readings && typeof card.dev.readings.power === 'string' ? card.dev.readings.power : 'unknown');
    const ready = () => !['off', 'cooling', 'warming'].includes(power());

    const stateLine = el('p', { className: 'proj-state', 'data-testid': 'proj-power-state-' + id });
    const powerBtn = actionBtn(card, { className: 'btn-big', testid: 'proj-power-' + id }, async (b) => {
      const on = power() !== 'on';
      if (!on && !(await confirmAction(t('proj.confirmOff'), t('proj.confirmOffText'), t('proj.turnOff')))) return;
      if (await sendCommand(card, b, 'power', { on })) {
        // Turning on passes through warming, turning off through cooling.
        expectValue(card, 'power', on ? 'warming' : 'cooling',
          (v) => (on ? ['warming', 'on'] : ['cooling', 'off']).includes(v));
        rerender(card);
      }
    }, () => !['warming', 'cooling'].includes(power()));

    const select = control(card, el('select', { id: domId('input'), 'data-testid': 'proj-input-' + id }), ready);
    const sendInput = latestOnly(async (source) => {
      expectValue(card, 'input', source, equals(source));
      if (!(await sendCommand(card, selectWrap, 'input', { source }))) card.expected.delete('input');
      rerender(card);
    });
    select.addEventListener('change', () => {
      if (select.value) sendInput(select.value);
    });
    const selectWrap = el('div', { className: 'field select-field' }, [el('label', { for: select.id, text: t('proj.input') }), select]);
    const offHint = el('p', { className: 'hint', text: t('proj.offHint'), hidden: true });

    const muteBtn = actionBtn(card, { className: 'btn-toggle', testid: 'proj-mute-' + id }, async (b) => {
      const on = b.getAttribute('aria-pressed') !== 'true';
      expectValue(card, 'av_mute', on, equals(on));
      rerender(card);
      if (!(await sendCommand(card, b, 'av_mute', { on }))) card.expected.delete('av_mute');
      rerender(card);
    }, ready);
    const muteHint = el('p', { className: 'hint', text: t('proj.muteHint') });
    const facts = el('div', { className: 'proj-facts' });

    card.body.append(stateLine, powerBtn, selectWrap, offHint, muteBtn, muteHint, facts);

    card.updateBody = (r) => {
      const p = power();
      const known = ['on', 'off', 'warming', 'cooling'].includes(p) ? p : 'unknown';
      stateLine.replaceChildren(el('span', { className: 'label', text: t('proj.powerLabel') + ': ' }),
        el('strong', { text: t('proj.power.' + known) }));
      stateLine.dataset.power = known;
      powerBtn.textContent = known === 'warming' || known === 'cooling' ? t('proj.wait')
        : known === 'on' ? t('proj.turnOff') : t('proj.turnOn');
      powerBtn.classList.toggle('btn-primary', known !== 'on');
      offHint.hidden = ready();

      const current = shown(card, 'input', typeof r.input === 'string' && r.input ? r.input : '');
      // The projector's own list when the driver reports one, else the common sources.
      const offered = Array.isArray(r.inputs) ? r.inputs.filter((x) => typeof x === 'string' && x) : [];
      const sources = offered.length ? [...offered] : [...PROJECTOR_SOURCES];
      if (current && !sources.includes(current)) sources.push(current);
      const key = (current ? '' : '-|') + sources.join('|');
      if (select._key !== key) { // rebuilt only when the list changed: it may be open
        const options = sources.map((s) => el('option', { value: s, text: label('proj.src', s) }));
        if (!current) options.unshift(el('option', { value: '', text: t('common.none'), disabled: true }));
        select.replaceChildren(...options);
        select._key = key;
      }
      if (select.value !== current) select.value = current;

      const muted = shown(card, 'av_mute', r.av_mute === true);
      muteBtn.setAttribute('aria-pressed', String(muted));
      muteBtn.textContent = muted ? t('proj.muted') : t('proj.mute');

      const rows = [];
      const lamps = Array.isArray(r.lamp_hours) ? r.lamp_hours.map(num).filter((h) => h !== null) : [];
      if (lamps.length) rows.push([t('proj.lamp'), lamps.map((h) => t('proj.hours', { n: fmtNum(h, 0) })).join(', ')]);
      if (r.errors && typeof r.errors === 'object') {
        const problems = PROJECTOR_PARTS.concat(Object.keys(r.errors).filter((k) => !PROJECTOR_PARTS.includes(k)))
          .filter((part) => r.errors[part] === 'warning' || r.errors[part] === 'error');
        const text = problems.map((part) => `${label('proj.part', part)} (${label('proj.level', r.errors[part])})`).join(', ');
        rows.push([t('proj.errors'), text || t('proj.noErrors'),
          problems.some((part) => r.errors[part] === 'error') ? 'bad' : problems.length ? 'warn' : 'ok']);
      }
      if (r.name) rows.push([t('proj.name'), String(r.name)]);
      facts.replaceChildren(...(rows.length ? [factsList(rows)] : []));
    };
  }

  // -- mixer

  function buildMixer(card) {
    const list = el('div', { className: 'channels' });
    const empty = el('p', { className: 'empty', text: t('mix.noChannels') });
    const rows = new Map();
    card.body.append(empty, list);
    card.updateBody = (r) => {
      const channels = Array.isArray(r.channels) ? r.channels.filter((c) => c && Number.isInteger(c.channel)) : [];
      empty.hidden = channels.length > 0;
      const seen = new Set();
      const nodes = [];
      for (const c of channels) {
        if (seen.has(c.channel)) continue;
        seen.add(c.channel);
        let row = rows.get(c.channel);
        if (!row) {
          row = buildChannel(card, c.channel);
          rows.set(c.channel, row);
        }
        row.update(c);
        nodes.push(row.root);
      }
      for (const [n, row] of rows) {
        if (!seen.has(n)) {
          rows.delete(n);
          for (const node of row.controls) card.controls.delete(node);
        }
      }
      placeChildren(list, nodes);
    };
  }

  function buildChannel(card, n) {
    const name = el('h3', { className: 'ch-name', id: domId('ch') });
    const number = el('span', { className: 'ch-number', 'aria-hidden': 'true' });
    const muteKey = 'mute:' + n;
    const gainKey = 'gain:' + n;
    const mute = actionBtn(card, { className: 'btn-toggle mute-btn', testid: `mixer-mute-${card.id}-${n}` }, async (b) => {
      const on = b.getAttribute('aria-pressed') !== 'true';
      expectValue(card, muteKey, on, equals(on));
      rerender(card);
      if (!(await sendCommand(card, b, 'mute', { channel: n, on }))) card.expected.delete(muteKey);
      rerender(card);
    });
    mute.setAttribute('aria-describedby', name.id);
    const gain = rangeField(t('mix.gain'), { min: String(GAIN.min), max: String(GAIN.max), step: String(GAIN.step), value: '0', 'data-testid': `mixer-gain-${card.id}-${n}` });
    gain.input.setAttribute('aria-labelledby', `${gain.lab.id} ${name.id}`);
    control(card, gain.input);
    const sendGain = latestOnly(async (db) => {
      expectValue(card, gainKey, db, near(db, 0.26));
      if (!(await sendCommand(card, gain.wrap, 'gain', { channel: n, db }))) card.expected.delete(gainKey);
      if (!gain.input._editing) rerender(card);
    });
    let timer = null;
    gain.input.addEventListener('input', () => {
      gain.input._editing = true;
      const db = Number(gain.input.value);
      setRangeText(gain, fmtDb(db));
      clearTimeout(timer);
      timer = setTimeout(() => sendGain(db), GAIN_DEBOUNCE_MS);
    });
    gain.input.addEventListener('change', () => {
      clearTimeout(timer);
      gain.input._editing = false;
      sendGain(Number(gain.input.value));
    });
    const root = el('div', { className: 'channel', role: 'group', 'aria-labelledby': name.id }, [
      el('div', { className: 'ch-head' }, [el('div', { className: 'ch-label' }, [name, number]), mute]),
      gain.wrap,
    ]);
    const update = (c) => {
      // The channel's own name first (what the officer knows it by), its number under it.
      const base = t('mix.channel', { n });
      name.textContent = c.name ? String(c.name) : base;
      name.setAttribute('aria-label', c.name ? `${base}: ${String(c.name)}` : base);
      number.textContent = c.name ? base : '';
      const muted = shown(card, muteKey, c.muted === true);
      mute.setAttribute('aria-pressed', String(muted));
      mute.textContent = muted ? t('mix.muted') : t('mix.mute');
      root.classList.toggle('is-muted', muted);
      if (!gain.input._editing) {
        const db = shown(card, gainKey, num(c.gain_db));
        if (db !== null) gain.input.value = String(db);
        setRangeText(gain, fmtDb(db));
      }
    };
    return { root, update, controls: [mute, gain.input] };
  }

  // -- UPS

  function buildPower(card) {
    const status = el('p', { className: 'ups-status', 'data-testid': 'ups-status-' + card.id });
    const hint = el('p', { className: 'ups-hint', text: t('ups.batteryHint'), hidden: true });
    const facts = el('div');
    card.body.append(status, hint, facts);
    card.updateBody = (r) => {
      const source = typeof r.on_battery === 'boolean' ? (r.on_battery ? 'battery' : 'mains') : 'unknown';
      status.textContent = t('ups.' + source);
      status.dataset.source = source;
      hint.hidden = source !== 'battery';
      const charge = num(r.charge_percent);
      const runtime = num(r.runtime_minutes);
      const load = num(r.load_percent);
      const volts = num(r.input_voltage);
      const rows = [];
      if (charge !== null) rows.push([t('ups.charge'), fmtPercent(charge), charge < 30 ? 'warn' : '']);
      if (runtime !== null) rows.push([t('ups.runtime'), t('ups.minutes', { n: fmtNum(runtime, 0) }), source === 'battery' ? 'warn' : '']);
      if (load !== null) rows.push([t('ups.load'), fmtPercent(load), load > 80 ? 'warn' : '']);
      if (typeof r.battery_status === 'string') {
        rows.push([t('ups.batteryStatus'), label('ups.bat', r.battery_status),
          r.battery_status === 'low' || r.battery_status === 'depleted' ? 'bad' : '']);
      }
      if (volts !== null) rows.push([t('ups.inputVoltage'), fmtNum(volts, 0) + ' V']);
      const alarms = num(r.alarms);
      if (alarms !== null) rows.push([t('ups.alarms'), alarms > 0 ? t('ups.alarmCount', { n: alarms }) : t('ups.noAlarms'), alarms > 0 ? 'warn' : '']);
      facts.replaceChildren(...(rows.length ? [factsList(rows)] : []));
    };
  }

  // -- network

  function buildNetwork(card) {
    const body = el('tbody');
    const table = el('table', { className: 'data compact' }, [
      el('thead', null, [el('tr', null, ['net.col.name', 'net.col.state', 'net.col.speed', 'net.col.errors']
        .map((k) => el('th', { scope: 'col', text: t(k) })))]),
      body,
    ]);
    const wrap = el('div', { className: 'table-wrap' }, [table]);
    const empty = el('p', { className: 'empty', text: t('net.none') });
    card.body.append(empty, wrap);
    card.updateBody = (r) => {
      const ifs = Array.isArray(r.interfaces) ? r.interfaces.filter((i) => i && typeof i === 'object') : [];
      empty.hidden = ifs.length > 0;
      wrap.hidden = ifs.length === 0;
      body.replaceChildren(...ifs.map((i) => {
        const st = i.admin_up === false ? 'admin-down' : i.up ? 'up' : 'down';
        const errors = [num(i.in_errors), num(i.out_errors)].map((v) => (v === null ? t('common.none') : fmtNum(v, 0))).join(' / ');
        return el('tr', null, [
          el('td', { text: String(i.name || i.index || '') }),
          el('td', { className: 'net-state', dataset: { state: st }, text: t(st === 'admin-down' ? 'net.adminDown' : 'net.' + st) }),
          el('td', { className: 'num', text: fmtSpeed(num(i.speed_bps)) }),
          el('td', { className: 'num', text: errors }),
        ]);
      }));
    };
  }

  // -- anything else: its readings as they come

  function buildGeneric(card) {
    const facts = el('div');
    card.body.append(facts);
    card.updateBody = (r) => {
      const rows = Object.entries(r).slice(0, 30).map(([k, v]) =>
        [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)]);
      facts.replaceChildren(rows.length ? factsList(rows) : el('p', { className: 'empty', text: t('dev.noReadings') }));
    };
  }

  const BUILDERS = {
    camera: buildCamera,
    projector: buildProjector,
    mixer: buildMixer,
    power: buildPower,
    network: buildNetwork,
  };

  // ---------------------------------------------------------------- conference calls

  // The "Hội nghị" block of the sessions section: each bridge, its call, and the link health.
  // A bridge card is shaped like a device card (`dev.state`, `controls`, `parts.feedback`), so
  // the device panel's helpers (control, actionBtn, setBusy, refreshControls, flash) serve it
  // too, read-only roles included.
  const CALL_POLL_MS = 1000;
  const REFRESH_AFTER_CALL_MS = 300;
  const CALL_STATES = ['connecting', 'connected', 'degraded', 'recovering', 'dropped', 'ended'];
  const HEALTHS = ['green', 'amber', 'red', 'grey'];
  const LINK_METRICS = [
    ['loss', 'loss_percent', (v) => fmtNum(v, 1) + ' %'],
    ['jitter', 'jitter_ms', (v) => fmtNum(v, 0) + ' ms'],
    ['rtt', 'rtt_ms', (v) => fmtNum(v, 0) + ' ms'],
    ['bitrate', 'bitrate_kbps', (v) => fmtNum(v, 0) + ' kbit/s'],
    ['fps', 'fps', (v) => fmtNum(v, 0)],
    ['mos', 'mos', (v) => fmtNum(v, 2)],
  ];
  // Recovery and state events are told; room chatter (who talks) is not.
  const TOLD_EVENTS = new Set(['connected', 'degraded', 'dropped', 'recovery_step', 'recovered',
    'ended', 'ringing', 'renegotiated']);
  const EVENTS_SHOWN = 5;

  function freshCalls() {
    return { list: [], cards: new Map(), loaded: false, timer: null, refreshTimer: null, seq: 0,
      updatedAt: null, stale: false, pollError: null, actionError: null };
  }

  const callsShown = () => state.user !== null && state.section === 'sessions' &&
    document.visibilityState !== 'hidden';

  function startCalls() {
    $('calls-readonly').hidden = canCommand();
    loadCalls();
  }

  function stopCalls() {
    const c = state.calls;
    clearTimeout(c.timer);
    clearTimeout(c.refreshTimer);
    c.timer = null;
    c.refreshTimer = null;
    c.seq += 1; // an answer still on its way is dropped
  }

  async function loadCalls() {
    const c = state.calls;
    clearTimeout(c.timer);
    c.timer = null;
    const seq = ++c.seq;
    let data;
    try {
      data = await api('GET', '/api/v1/bridges', undefined, { background: true });
    } catch (err) {
      if (seq === c.seq && !err.handled) {
        c.stale = true;
        renderCallsUpdated();
        // Said once, not every second while the link to the controller is down.
        if (err.message !== c.pollError) reportError(err);
        c.pollError = err.message;
      }
      return;
    } finally {
      if (seq === c.seq && callsShown()) c.timer = setTimeout(loadCalls, CALL_POLL_MS);
    }
    if (seq !== c.seq) return;
    c.list = Array.isArray(data.bridges) ? data.bridges.filter((b) => b && b.id !== undefined) : [];
    c.loaded = true;
    c.updatedAt = new Date();
    c.stale = false;
    if (c.pollError !== null) {
      if ($('alert').textContent === c.pollError) clearError();
      c.pollError = null;
    }
    renderCalls();
  }

  function refreshCallsSoon() {
    const c = state.calls;
    clearTimeout(c.refreshTimer);
    c.refreshTimer = setTimeout(() => {
      c.refreshTimer = null;
      if (callsShown()) loadCalls();
    }, REFRESH_AFTER_CALL_MS);
  }

  function renderCallsUpdated() {
    const c = state.calls;
    const node = $('calls-updated');
    if (!c.updatedAt) {
      node.textContent = '';
      return;
    }
    node.textContent = t(c.stale ? 'dev.stale' : 'dev.updated', { time: clockTime(c.updatedAt) });
    node.classList.toggle('warn', c.stale);
  }

  const clockTime = (d) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;

  // Event times come as seconds since the epoch (or an ISO text): local HH:MM:SS.
  function eventTime(at) {
    const d = typeof at === 'number' && Number.isFinite(at) ? new Date(at * 1000) : parseTime(at);
    return d ? { d, text: clockTime(d) } : null;
  }

  function renderCalls() {
    const c = state.calls;
    $('calls-loading').hidden = c.loaded;
    $('calls-empty').hidden = !c.loaded || c.list.length > 0;
    $('calls-readonly').hidden = canCommand();
    renderCallsUpdated();
    const seen = new Set();
    const roots = [];
    for (const bridge of c.list) {
      const id = String(bridge.id);
      if (seen.has(id)) continue;
      seen.add(id);
      let card = c.cards.get(id);
      if (!card) {
        card = makeBridgeCard(bridge);
        c.cards.set(id, card);
      }
      updateBridgeCard(card, bridge);
      roots.push(card.root);
    }
    for (const id of [...c.cards.keys()]) if (!seen.has(id)) c.cards.delete(id);
    placeChildren($('bridge-list'), roots);
  }

  function rebuildCalls() {
    stopPlayout();
    const c = state.calls;
    c.cards.clear();
    $('bridge-list').replaceChildren();
    if (c.loaded) renderCalls();
  }

  const liveCall = (bridge) => (bridge && bridge.call && typeof bridge.call === 'object' &&
    bridge.call.state !== 'ended' ? bridge.call : null);

  function makeBridgeCard(bridge) {
    const id = String(bridge.id);
    const title = el('h3', { id: domId('bridge-title'), className: 'device-name' });
    const kindLine = el('p', { className: 'device-kind' });
    const stateWord = el('span', { className: 'state-word' });
    const stateBox = el('p', { className: 'device-state call-state', 'data-testid': 'bridge-state-' + id, role: 'status' },
      [el('span', { className: 'dot', 'aria-hidden': 'true' }), stateWord]);
    const feedback = el('p', { className: 'device-feedback', role: 'status', 'data-testid': 'bridge-feedback-' + id });
    const problem = el('div', { className: 'device-problem', hidden: true });
    const startedBy = el('p', { className: 'started-by', hidden: true });
    const actions = el('div', { className: 'call-actions' });
    const strip = el('div', { className: 'link-strip', 'data-testid': 'link-strip-' + id, hidden: true });
    const events = el('div', { className: 'call-events', 'data-testid': 'bridge-events-' + id, hidden: true });
    const player = makePlayer(id);
    const root = el('article', { className: 'device-card bridge-card', 'data-testid': 'bridge-card-' + id, 'aria-labelledby': title.id }, [
      el('header', { className: 'device-head' }, [
        el('div', { className: 'device-title' }, [title, kindLine]),
        el('div', { className: 'device-status' }, [stateBox, feedback]),
      ]),
      problem,
      el('div', { className: 'call-main' }, [actions, startedBy]),
      player.root,
      strip,
      events,
    ]);
    const card = {
      id, bridge, dev: { state: bridge.usable === false ? 'unusable' : 'usable' }, root,
      parts: { title, kindLine, stateBox, stateWord, problem, feedback, startedBy, strip, events },
      controls: new Set(), feedbackTimer: null, player,
    };
    const inCall = () => liveCall(card.bridge) !== null;
    card.join = actionBtn(card, { className: 'btn-primary btn-big btn-join', testid: 'bridge-join-' + id, text: t('calls.join') },
      (b) => callAction(card, b, 'join'), () => !inCall());
    card.leave = actionBtn(card, { className: 'btn-big btn-leave', testid: 'bridge-leave-' + id, text: t('calls.leave') },
      async (b) => {
        if (!(await confirmAction(t('calls.confirmLeave'), t('calls.confirmLeaveText'), t('calls.leave')))) return;
        await callAction(card, b, 'leave');
      }, inCall);
    for (const b of [card.join, card.leave]) b.setAttribute('aria-describedby', title.id);
    // Watching changes nothing in the call: every role may, so it is not a guarded control.
    card.watch = el('button', { type: 'button', className: 'btn btn-big btn-watch', 'data-testid': 'bridge-watch-' + id, text: t('calls.watch'), hidden: true });
    card.watch.setAttribute('aria-describedby', title.id);
    card.watch.addEventListener('click', () => {
      if (state.playout && state.playout.card === card) stopPlayout();
      else startPlayout(card);
    });
    player.stop.addEventListener('click', () => stopPlayout());
    actions.append(card.join, card.leave, card.watch);
    return card;
  }

  // POST join or leave; the answer is the bridge as it is now, shown at once.
  async function callAction(card, button, action) {
    const epoch = state.epoch;
    const c = state.calls;
    const wasFocused = document.activeElement === button;
    setBusy(card, button, +1);
    try {
      const body = await api('POST', '/api/v1/bridges/' + encodeURIComponent(card.id) + '/' + action);
      if (epoch !== state.epoch) return;
      flash(card, t(action === 'join' ? 'calls.joined' : 'calls.left'), 'ok');
      if (c.actionError && c.actionError.card === card.id) {
        if ($('alert').textContent === c.actionError.message) clearError();
        c.actionError = null;
      }
      if (body && body.id !== undefined) updateBridgeCard(card, body);
      // The other button takes the place (and the focus) of the one pressed.
      if (wasFocused) (action === 'join' ? card.leave : card.join).focus();
      refreshCallsSoon();
    } catch (err) {
      if (epoch !== state.epoch || err.handled) return;
      reportError(err);
      c.actionError = { card: card.id, message: err.message };
      flash(card, t('dev.failed'), 'error');
      refreshCallsSoon();
    } finally {
      setBusy(card, button, -1);
    }
  }

  function updateBridgeCard(card, bridge) {
    card.bridge = bridge;
    card.dev = { state: bridge.usable === false ? 'unusable' : 'usable' };
    const p = card.parts;
    const call = liveCall(bridge);
    p.title.textContent = String(bridge.name || bridge.id);
    const kind = label('calls.kind', bridge.kind);
    const room = bridge.room !== undefined && bridge.room !== null && bridge.room !== ''
      ? ' · ' + t('calls.room', { room: String(bridge.room) }) : '';
    p.kindLine.textContent = kind + room;

    let st = 'idle';
    if (bridge.usable === false) st = 'unusable';
    else if (call) st = CALL_STATES.includes(call.state) ? call.state : 'connecting';
    card.root.dataset.state = st;
    p.stateBox.dataset.state = st;
    setText(p.stateWord, t('calls.state.' + st));

    const lines = [];
    if (bridge.usable === false) {
      lines.push(el('p', { text: t('calls.unusable') }));
      if (bridge.error) lines.push(el('p', { className: 'tech', text: t('dev.lastError', { error: String(bridge.error) }) }));
    }
    p.problem.replaceChildren(...lines);
    p.problem.hidden = lines.length === 0;

    card.join.hidden = call !== null;
    card.leave.hidden = call === null;
    p.startedBy.hidden = !(call && call.started_by);
    setText(p.startedBy, call && call.started_by ? t('calls.startedBy', { user: String(call.started_by) }) : '');

    const watching = state.playout !== null && state.playout.card === card;
    if (call === null && watching) stopPlayout();
    // After the call rebuilt its connections, the relayed picture is new: attach to it again.
    else if (watching && latestRecovery(call) > state.playout.since) startPlayout(card, true);
    card.watch.hidden = !(call && WATCHABLE.includes(call.state)) && !(call && watching);
    renderStrip(card, call);
    renderEvents(card, call);
    refreshControls(card);
  }

  // Only touch text that changed: a screen reader re-reads a live region on every write.
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function renderStrip(card, call) {
    const strip = card.parts.strip;
    strip.hidden = call === null;
    if (call === null) return;
    const health = HEALTHS.includes(call.health) ? call.health : 'grey';
    strip.dataset.health = health;
    const samples = (Array.isArray(call.samples) ? call.samples : [])
      .filter((s) => s && typeof s === 'object')
      .map((s, i) => ({ s, i }))
      .sort((a, b) => (a.s.direction === b.s.direction ? 0 : a.s.direction === 'send' ? -1 : 1) ||
        (a.s.kind === b.s.kind ? 0 : a.s.kind === 'audio' ? -1 : 1) || a.i - b.i)
      .map(({ s }) => s);

    const bar = el('p', { className: 'link-bar', 'data-testid': 'link-health-' + card.id }, [
      el('span', { className: 'link-swatch', 'aria-hidden': 'true' }),
      el('span', { className: 'link-word', text: t('link.health.' + health) }),
    ]);
    const parts = [bar];
    if (!samples.length) {
      parts.push(el('p', { className: 'empty', text: t('link.noSamples') }));
    } else {
      const seen = new Map();
      const columns = samples.map((s) => {
        const key = `${s.direction}-${s.kind}`;
        const n = (seen.get(key) || 0) + 1;
        seen.set(key, n);
        const head = `${label('link', s.direction)} · ${label('link', s.kind)}` + (n > 1 ? ` ${n}` : '');
        return { s, key, n, head };
      });
      const headRow = el('tr', null, [el('th', { scope: 'col', text: t('link.metric') }),
        ...columns.map((col) => el('th', { scope: 'col', className: 'num', text: col.head }))]);
      const rows = LINK_METRICS.map(([name, field, format]) => {
        const th = el('th', { scope: 'row', text: t('link.' + name) });
        if (name === 'mos') th.title = t('link.mosHint');
        return el('tr', { dataset: { metric: name } }, [th, ...columns.map((col) => {
          // Audio has no frames to count: its "fps" is packets per second, not for the officer.
          const v = name === 'fps' && col.s.kind === 'audio' ? null : num(col.s[field]);
          return el('td', {
            className: 'num',
            'data-testid': col.n === 1 ? `link-${name}-${card.id}-${col.key}` : undefined,
            text: v === null ? t('common.none') : format(v),
          });
        })]);
      });
      parts.push(el('div', { className: 'table-wrap' }, [
        el('table', { className: 'data compact link-table' }, [el('thead', null, [headRow]), el('tbody', null, rows)]),
      ]));
    }
    strip.replaceChildren(...parts);
  }

  function eventText(e) {
    const data = e.data && typeof e.data === 'object' ? e.data : {};
    const name = String(e.name);
    if (name === 'connected' && data.after === 'degraded') return t('events.connectedAgain');
    if (name === 'recovery_step') {
      const n = num(data.attempt) ?? '?';
      const delay = num(data.delay);
      return delay === null ? t('events.recovery_step', { n }) : t('events.recovery_stepDelay', { n, s: fmtNum(delay, 1) });
    }
    if (name === 'recovered') {
      const s = num(data.downtime_s) ?? num(data.outage_s);
      return s === null ? t('events.recovered') : t('events.recoveredAfter', { s: fmtNum(s, 1) });
    }
    return t('events.' + name);
  }

  function renderEvents(card, call) {
    const box = card.parts.events;
    const events = call && Array.isArray(call.events)
      ? call.events.filter((e) => e && TOLD_EVENTS.has(e.name)).slice(-EVENTS_SHOWN).reverse() : [];
    box.hidden = call === null;
    if (call === null) return;
    const items = events.map((e) => {
      const at = eventTime(e.at);
      const data = e.data && typeof e.data === 'object' ? e.data : {};
      const li = el('li', { dataset: { event: String(e.name) } }, [
        el('time', { datetime: at ? at.d.toISOString() : undefined, text: at ? at.text : t('common.none') }),
        el('span', { text: eventText(e) }),
      ]);
      if (data.reason) li.title = String(data.reason); // technical, for the technician
      return li;
    });
    box.replaceChildren(
      el('h4', { text: t('events.heading') }),
      items.length ? el('ol', { className: 'event-list' }, items) : el('p', { className: 'empty', text: t('events.none') }));
  }

  // ---------------------------------------------------------------- playout

  // The conference as this site receives it, relayed by the controller over a local
  // WebRTC connection: the room PC driving the projector needs nothing but this page.
  const WATCHABLE = ['connected', 'degraded'];
  const ICE_GATHER_MS = 3000;

  function makePlayer(id) {
    const video = el('video', { className: 'playout-video', 'data-testid': 'playout-video-' + id, autoplay: true, playsinline: true });
    video.muted = true; // browsers refuse to autoplay with sound
    const status = el('p', { className: 'playout-status', role: 'status', 'data-testid': 'playout-status-' + id });
    const sound = el('button', { type: 'button', className: 'btn', 'data-testid': 'playout-sound-' + id, text: t('calls.unmute') });
    const full = el('button', { type: 'button', className: 'btn', 'data-testid': 'playout-fullscreen-' + id, text: t('calls.fullscreen') });
    const stop = el('button', { type: 'button', className: 'btn', 'data-testid': 'playout-stop-' + id, text: t('calls.watchStop') });
    const screen = el('div', { className: 'playout-screen' }, [video]);
    const root = el('section', { className: 'playout', 'data-testid': 'playout-' + id, hidden: true, 'aria-label': t('calls.playoutTitle') }, [
      screen, el('div', { className: 'playout-bar' }, [sound, full, stop, status]),
    ]);
    const player = { root, video, status, sound, full, stop, screen };
    sound.addEventListener('click', () => {
      video.muted = !video.muted;
      if (!video.muted) video.play().catch(() => { video.muted = true; renderPlayer(player); });
      renderPlayer(player);
    });
    full.addEventListener('click', () => {
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      else if (screen.requestFullscreen) screen.requestFullscreen().catch(() => {});
    });
    return player;
  }

  function renderPlayer(player, phase) {
    if (phase) player.phase = phase;
    player.sound.textContent = t(player.video.muted ? 'calls.unmute' : 'calls.mute');
    player.sound.setAttribute('aria-pressed', player.video.muted ? 'false' : 'true');
    const key = player.phase === 'playing' ? (player.video.muted ? 'calls.playoutPlaying' : 'calls.playoutPlayingSound')
      : player.phase === 'failed' ? 'calls.playoutFailed' : 'calls.playoutConnecting';
    player.status.textContent = t(key);
    player.root.dataset.phase = player.phase || 'connecting';
  }

  function iceGathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ICE_GATHER_MS);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  function latestRecovery(call) {
    let latest = 0;
    for (const e of (call && call.events) || []) {
      if (e.name === 'recovered' && Number(e.at) > latest) latest = Number(e.at);
    }
    return latest;
  }

  async function startPlayout(card, restart = false) {
    const keepSound = restart && !card.player.video.muted;
    stopPlayout();
    const player = card.player;
    const pc = new RTCPeerConnection({ iceServers: [] });
    const stream = new MediaStream();
    const session = { card, pc, since: latestRecovery(liveCall(card.bridge)) };
    state.playout = session;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addEventListener('track', (e) => stream.addTrack(e.track));
    pc.addEventListener('connectionstatechange', () => {
      if (state.playout !== session) return;
      if (pc.connectionState === 'connected') renderPlayer(player, 'playing');
      else if (pc.connectionState === 'failed') renderPlayer(player, 'failed');
    });
    player.video.muted = !keepSound;
    player.video.srcObject = stream;
    player.root.hidden = false;
    card.watch.textContent = t('calls.watchStop');
    card.watch.setAttribute('aria-pressed', 'true');
    renderPlayer(player, 'connecting');
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc);
      if (state.playout !== session) return;
      const answer = await api('POST', '/api/v1/bridges/' + encodeURIComponent(card.id) + '/playout',
        { sdp: pc.localDescription.sdp, type: 'offer' });
      if (state.playout !== session) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: String(answer.sdp) });
    } catch (err) {
      if (state.playout !== session) return;
      renderPlayer(player, 'failed');
      pc.close();
      if (err instanceof ApiError) reportError(err);
      else console.warn('playout', err);
    }
  }

  function stopPlayout() {
    const session = state.playout;
    if (!session) return;
    state.playout = null;
    session.pc.close();
    const { card } = session;
    const player = card.player;
    if (document.fullscreenElement === player.screen) document.exitFullscreen().catch(() => {});
    player.video.srcObject = null;
    player.root.hidden = true;
    player.phase = null;
    card.watch.textContent = t('calls.watch');
    card.watch.setAttribute('aria-pressed', 'false');
    const call = liveCall(card.bridge);
    card.watch.hidden = !(call && WATCHABLE.includes(call.state));
  }

  // ---------------------------------------------------------------- multi-site sessions

  // The "Phiên họp trực tuyến" block: sessions this site chairs or attends, this site's own
  // part (invitation, readiness, roll call, the floor, joining), and the chair's controls.
  // The open session is polled every 2 s; nodes the user types into are kept across polls.
  const MEETING_POLL_MS = 2000;
  const MEETING_STATES = ['scheduled', 'readiness', 'live', 'ended', 'cancelled'];
  const OPEN_MEETING_STATES = ['scheduled', 'readiness', 'live'];
  const READINESS_CHECKS = ['devices', 'camera', 'projector', 'mic', 'bridge'];
  const CREATOR_ROLES = ['operator', 'chair'];
  const APPROVER_ROLES = ['chair', 'admin'];
  const CHAIR_ROLES = ['chair'];
  const LOCAL_SWITCH_ROLES = ['operator', 'chair', 'admin'];
  const LINK_COLOURS = ['none', 'green', 'amber', 'red'];

  function freshMeetings() {
    return { list: [], loaded: false, selected: null, detail: null, detailAt: 0, timer: null,
      ticker: null, seq: 0, pollError: null, localControl: null, site: null, view: null,
      chosen: false, listSig: '' };
  }

  const userIn = (roles) => state.user !== null && roles.includes(state.user.role);
  const meetingsShown = () => state.user !== null && state.section === 'sessions' &&
    document.visibilityState !== 'hidden';
  const sessionPath = (id, tail) => '/api/v1/sessions/' + encodeURIComponent(id) + (tail || '');
  const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
  const arr = (v) => (Array.isArray(v) ? v : []);

  function startMeetings() {
    const m = state.meetings;
    $('local-control').hidden = !userIn(LOCAL_SWITCH_ROLES);
    loadMeetingSite();
    loadMeetings();
    clearInterval(m.ticker);
    m.ticker = setInterval(tickFloor, 1000);
  }

  function stopMeetings() {
    const m = state.meetings;
    clearTimeout(m.timer);
    clearInterval(m.ticker);
    m.timer = null;
    m.ticker = null;
    m.seq += 1;
  }

  function resetMeetings() {
    stopMeetings();
      $('meeting-list').replaceChildren();
    $('meeting-detail').replaceChildren();
    $('meeting-detail').hidden = true;
    $('meeting-form').hidden = true;
    $('new-sites').replaceChildren();
  }

  // This site's identity, subtree and local-control switch.
  async function loadMeetingSite() {
    const epoch = state.epoch;
    try {
      const site = await api('GET', '/api/v1/site', undefined, { background: true });
      if (epoch !== state.epoch) return;
      state.meetings.site = site;
      state.meetings.localControl = site.local_control_only === true;
      renderLocalControl();
      renderMeetingList();
      if (!$('meeting-form').hidden) renderSitePicker();
    } catch (err) {
      if (epoch === state.epoch) reportError(err);
    }
  }

  async function loadMeetings() {
    const m = state.meetings;
    clearTimeout(m.timer);
    m.timer = null;
    const seq = ++m.seq;
    const selected = m.selected;
    let list;
    let detail = null;
    try {
      [list, detail] = await Promise.all([
        api('GET', '/api/v1/sessions', undefined, { background: true }),
        selected ? api('GET', sessionPath(selected), undefined, { background: true })
          .catch((err) => (err.code === 'session_not_found' ? { gone: true } : Promise.reject(err)))
          : Promise.resolve(null),
      ]);
    } catch (err) {
      if (seq === m.seq && !err.handled) {
        if (err.message !== m.pollError) reportError(err);
        m.pollError = err.message;
      }
      return;
    } finally {
      if (seq === m.seq && meetingsShown()) m.timer = setTimeout(loadMeetings, MEETING_POLL_MS);
    }
    if (seq !== m.seq) return;
    if (m.pollError !== null) {
      if ($('alert').textContent === m.pollError) clearError();
      m.pollError = null;
    }
    m.list = arr(list.sessions).filter((s) => s && typeof s.id === 'string');
    m.loaded = true;
    if (typeof list.local_control_only === 'boolean') {
      m.localControl = list.local_control_only;
      renderLocalControl();
    }
    if (detail && detail.gone) {
      // Deleted or never delivered here: back to the list rather than "loading" for ever.
      if (selected === m.selected) {
        m.selected = null;
        m.view = null;
        $('meeting-detail').replaceChildren();
      }
      detail = null;
    }
    if (selected === m.selected) {
      m.detail = detail;
      m.detailAt = Date.now();
    }
    // Nothing chosen yet: open the first open session, which is what an officer came for.
    if (!m.selected && !m.chosen) {
      const first = m.list.find((s) => OPEN_MEETING_STATES.includes(s.state));
      if (first) {
        selectMeeting(first.id, false);
        return;
      }
    }
    renderMeetingList();
    renderMeetingDetail();
  }

  function refreshMeetingsSoon() {
    if (meetingsShown()) loadMeetings();
  }

  function selectMeeting(id, byUser) {
    const m = state.meetings;
    if (byUser) m.chosen = true;
    if (m.selected !== id) {
      m.selected = id;
      m.detail = null;
      m.view = null;
      $('meeting-detail').replaceChildren();
    }
    renderMeetingList();
    renderMeetingDetail();
    loadMeetings();
  }

  function rebuildMeetings() {
    const m = state.meetings;
    m.view = null;
    m.listSig = '';
    $('meeting-detail').replaceChildren();
    renderLocalControl();
    if (m.loaded) {
      renderMeetingList();
      renderMeetingDetail();
    }
    if (!$('meeting-form').hidden) renderSitePicker();
  }

  // -- words and times

  const stateWord = (s) => label('ses.state', MEETING_STATES.includes(s) ? s : '');
  const kindWord = (k) => label('ses.kind', k);

  function siteName(id) {
    const m = state.meetings;
    if (m.detail) {
      const s = arr(m.detail.sites).find((x) => x && x.id === id);
      if (s && s.name) return String(s.name);
    }
    const site = m.site;
    if (site) {
      if (site.id === id && site.name) return String(site.name);
      const s = arr(site.subtree).find((x) => x && x.id === id);
      if (s && s.name) return String(s.name);
    }
    return String(id ?? '');
  }

  const timeRange = (s) => t('ses.timeRange', { start: formatTime(s.starts_at), end: formatTime(s.ends_at) });

  function fmtClock(seconds) {
    const s = Math.abs(Math.round(seconds));
    return `${pad2(Math.floor(s / 60))}:${pad2(s % 60)}`;
  }

  // A datetime-local value ("2026-12-01T08:00") as ISO 8601 with this computer's offset.
  function localIso(value) {
    const d = new Date(value);
    if (!value || Number.isNaN(d.getTime())) return null;
    const off = -d.getTimezoneOffset();
    const sign = off >= 0 ? '+' : '-';
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:00${sign}${pad2(Math.floor(Math.abs(off) / 60))}:${pad2(Math.abs(off) % 60)}`;
  }

  const localInputValue = (d) => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;

  // -- local control

  function renderLocalControl() {
    const m = state.meetings;
    const box = $('local-control-switch');
    if (m.localControl !== null && !box._busy) box.checked = m.localControl;
    $('local-control').hidden = !userIn(LOCAL_SWITCH_ROLES);
    $('local-control').classList.toggle('is-on', m.localControl === true);
    const hint = $('local-control-hint');
    hint.hidden = m.localControl !== true;
    hint.textContent = m.localControl === true ? t('ses.localControlOn') : '';
  }

  async function toggleLocalControl() {
    const box = $('local-control-switch');
    const on = box.checked;
    const epoch = state.epoch;
    box._busy = true;
    box.disabled = true;
    // A poll answer already on its way says the old state: drop it, ask again afterwards.
    stopMeetings();
    try {
      const body = await api('POST', '/api/v1/site/local-control', { on });
      if (epoch !== state.epoch) return;
      state.meetings.localControl = body.local_control_only === true;
      showNotice(t(on ? 'ses.localControlSetOn' : 'ses.localControlSetOff'));
    } catch (err) {
      if (epoch !== state.epoch) return;
      box.checked = !on;
      reportError(err);
    } finally {
      box._busy = false;
      box.disabled = false;
      renderLocalControl();
      if (epoch === state.epoch && meetingsShown()) startMeetings();
    }
  }

  // -- the list

  function renderMeetingList() {
    const m = state.meetings;
    $('meetings-loading').hidden = m.loaded;
    $('meetings-empty').hidden = !m.loaded || m.list.length > 0;
    const site = m.site;
    const hasBelow = site && arr(site.subtree).length > 0;
    $('meeting-new').hidden = !(userIn(CREATOR_ROLES) && hasBelow) || !$('meeting-form').hidden;
    // Rebuilt only when something shown changed, so a press is never lost to a poll.
    const shownFields = m.list.map((x) => [x.id, x.title, x.kind, x.chair, x.state, x.approved,
      x.secret, x.starts_at, x.ends_at, obj(x.notice).ok, obj(x.notice).message]);
    const sig = JSON.stringify([state.lang, m.selected, shownFields, m.site && m.site.id]);
    if (sig === m.listSig) return;
    m.listSig = sig;
    const items = m.list.map((s) => {
      const selected = s.id === m.selected;
      const notice = obj(s.notice);
      const badges = el('span', { className: 'badges' }, [
        el('span', { className: 'badge state-badge', dataset: { state: String(s.state) }, 'data-testid': 'session-state-' + s.id, text: stateWord(s.state) }),
        el('span', { className: 'badge', dataset: { kind: String(s.kind) }, text: kindWord(s.kind) }),
        el('span', { className: 'badge ' + (s.approved ? 'badge-ok' : 'badge-warn'), text: t(s.approved ? 'ses.approved' : 'ses.notApproved') }),
      ]);
      if (s.secret) badges.append(el('span', { className: 'badge badge-secret', 'data-testid': 'session-secret-' + s.id, text: t('ses.secret') }));
      const button = el('button', { type: 'button', className: 'meeting-item' + (selected ? ' is-selected' : ''), 'data-testid': 'session-item-' + s.id, 'aria-pressed': selected ? 'true' : 'false' }, [
        el('span', { className: 'meeting-item-title', text: String(s.title ?? '') }),
        badges,
        el('span', { className: 'meeting-item-meta', text: t('ses.chairedBy', { site: (s.chair_name ? String(s.chair_name) : siteName(s.chair)) }) + ' · ' + timeRange(s) }),
      ]);
      if (notice.ok === false && notice.message) {
        button.append(el('span', { className: 'meeting-item-warn', 'data-testid': 'session-notice-' + s.id, text: '⚠ ' + String(notice.message) }));
      }
      button.addEventListener('click', () => selectMeeting(s.id, true));
      return el('li', null, [button]);
    });
    $('meeting-list').replaceChildren(...items);
  }

  // -- the detail: built once per session (and language), filled on every poll

  function meetingButton(view, text, testid, onPress, className) {
    const b = el('button', { type: 'button', className: 'btn ' + (className || ''), 'data-testid': testid, text });
    b.addEventListener('click', async () => {
      if (b.getAttribute('aria-disabled') === 'true') return;
      b.setAttribute('aria-disabled', 'true');
      b.classList.add('is-busy');
      try {
        await onPress(b);
      } finally {
        b.removeAttribute('aria-disabled');
        b.classList.remove('is-busy');
      }
    });
    return b;
  }

  function feedback(node, text, kind) {
    node.textContent = text;
    node.dataset.kind = kind;
  }

  function buildMeetingView(id) {
    const view = { id, rows: new Map(), results: new Map() };
    const fb = () => el('p', { className: 'device-feedback', role: 'status' });

    view.title = el('h3', { className: 'meeting-title', 'data-testid': 'meeting-title' });
    view.facts = el('dl', { className: 'mini-facts meeting-facts', 'data-testid': 'meeting-facts' });
    view.notice = el('p', { className: 'meeting-notice', role: 'alert', 'data-testid': 'meeting-notice', hidden: true });

    // This site's part.
    view.invitation = el('p', { className: 'invitation', 'data-testid': 'meeting-invitation' });
    view.readinessList = el('ul', { className: 'checklist', 'data-testid': 'readiness-list' });
    view.readinessSummary = el('p', { className: 'readiness-summary', 'data-testid': 'readiness-summary' });
    view.readinessRerun = meetingButton(view, t('ses.recheck'), 'readiness-rerun', () => ownAction(view, 'readiness', undefined, 'ses.recheckDone'));
    view.readinessBox = el('div', { className: 'readiness-box' }, [
      el('h4', { text: t('ses.readinessHeading') }), view.readinessSummary, view.readinessList,
      el('div', { className: 'button-row' }, [view.readinessRerun]),
    ]);

    view.rollCount = el('input', { id: domId('rollcall-count'), type: 'number', min: '0', max: '10000', step: '1', inputmode: 'numeric', 'data-testid': 'rollcall-count' });
    view.rollNames = el('textarea', { id: domId('rollcall-names'), rows: '4', 'data-testid': 'rollcall-names' });
    view.rollDone = el('p', { className: 'hint', 'data-testid': 'rollcall-done', hidden: true });
    view.rollForm = el('form', { className: 'rollcall-form', 'data-testid': 'rollcall-form', novalidate: true }, [
      el('h4', { text: t('ses.rollcallHeading') }),
      el('p', { className: 'hint', text: t('ses.rollcallIntro') }),
      el('div', { className: 'field' }, [el('label', { for: view.rollCount.id, text: t('ses.rollcallCount') }), view.rollCount]),
      el('div', { className: 'field' }, [el('label', { for: view.rollNames.id, text: t('ses.rollcallNames') }), view.rollNames]),
      el('button', { type: 'submit', className: 'btn btn-primary', 'data-testid': 'rollcall-submit', text: t('ses.rollcallSubmit') }),
      view.rollDone,
    ]);
    view.rollForm.addEventListener('submit', (event) => {
      event.preventDefault();
      submitRollcall(view);
    });

    view.speaking = el('p', { className: 'speaking', role: 'status', 'data-testid': 'my-floor', hidden: true });
    view.hand = meetingButton(view, t('ses.raiseHand'), 'hand-button', () => {
      const raised = handRaised(view, view.data);
      view.handPressedAt = Date.now();
      return ownAction(view, 'hand', { raised: !raised }, raised ? 'ses.handLowered' : 'ses.handRaised');
    }, 'btn-big');
    view.join = meetingButton(view, t('calls.join'), 'meeting-join', () => ownAction(view, 'join', undefined, 'calls.joined'), 'btn-primary btn-big');
    view.leave = meetingButton(view, t('calls.leave'), 'meeting-leave', async () => {
      if (!(await confirmAction(t('calls.confirmLeave'), t('calls.confirmLeaveText'), t('calls.leave')))) return;
      await ownAction(view, 'leave', undefined, 'calls.left');
    }, 'btn-big btn-leave');
    view.ownFeedback = fb();
    view.ownFeedback.dataset.testid = 'my-feedback';
    view.ownReadonly = el('p', { className: 'readonly-note', hidden: true }, [
      el('strong', { className: 'readonly-badge', text: t('dev.viewOnly') }), ' ', t('ses.viewOnlyWhy')]);
    view.own = el('section', { className: 'meeting-own', 'data-testid': 'meeting-own' }, [
      el('h4', { text: t('ses.ownHeading') }),
      view.invitation, view.ownReadonly, view.speaking,
      el('div', { className: 'button-row' }, [view.hand, view.join, view.leave]),
      view.ownFeedback, view.rollForm, view.readinessBox,
    ]);

    // The chair's controls.
    const chairBtn = (key, testid, action, args, opts = {}) => meetingButton(view, t(key), testid, async () => {
      if (opts.confirm && !(await confirmAction(t(opts.confirm), t(opts.confirm + 'Text'), t(key)))) return;
      await chairAction(view, action, undefined, args);
    }, opts.className);
    view.approve = meetingButton(view, t('ses.approve'), 'chair-approve', () => approveMeeting(view), 'btn-primary');
    view.c = {
      readiness: chairBtn('ses.act.readiness', 'chair-readiness', 'readiness'),
      start: chairBtn('ses.act.start', 'chair-start', 'start', undefined, { className: 'btn-primary' }),
      end: chairBtn('ses.act.end', 'chair-end', 'end', undefined, { confirm: 'ses.confirmEnd', className: 'btn-leave' }),
      cancel: chairBtn('ses.act.cancel', 'chair-cancel', 'cancel', undefined, { confirm: 'ses.confirmCancel', className: 'btn-leave' }),
      rollOpen: chairBtn('ses.act.rollcallOpen', 'chair-rollcall-open', 'rollcall.open'),
      rollClose: chairBtn('ses.act.rollcallClose', 'chair-rollcall-close', 'rollcall.close'),
      lock: chairBtn('ses.act.lock', 'chair-lock', 'lock', { on: true }),
      unlock: chairBtn('ses.act.unlock', 'chair-unlock', 'lock', { on: false }),
      muteAll: chairBtn('ses.act.muteAll', 'chair-mute-all', 'mute_all', { on: true }),
      unmuteAll: chairBtn('ses.act.unmuteAll', 'chair-unmute-all', 'mute_all', { on: false }),
    };
    view.chairFeedback = fb();
    view.chairFeedback.dataset.testid = 'chair-feedback';
    view.chairBar = el('div', { className: 'button-row chair-bar', 'data-testid': 'chair-bar' },
      [view.approve, ...Object.values(view.c)]);

    view.speaker = el('p', { className: 'floor-speaker', 'data-testid': 'floor-speaker' });
    view.countdown = el('span', { className: 'floor-countdown', 'data-testid': 'floor-countdown' });
    view.revoke = meetingButton(view, t('ses.floorRevoke'), 'floor-revoke', () => chairAction(view, 'floor.revoke'));
    view.next = meetingButton(view, t('ses.floorNext'), 'floor-next', () => chairAction(view, 'floor.grant'), 'btn-primary');
    view.queue = el('ol', { className: 'floor-queue', 'data-testid': 'floor-queue' });
    view.queueEmpty = el('p', { className: 'empty', 'data-testid': 'floor-queue-empty', text: t('ses.queueEmpty') });
    view.floor = el('section', { className: 'floor-box', 'data-testid': 'floor-box' }, [
      el('h4', { text: t('ses.floorHeading') }),
      el('div', { className: 'floor-now' }, [view.speaker, view.countdown]),
      el('div', { className: 'button-row' }, [view.next, view.revoke]),
      el('h5', { text: t('ses.queueHeading') }), view.queue, view.queueEmpty,
    ]);

    const cols = ['site', 'online', 'readiness', 'rollcall', 'hand', 'link', 'local', 'delegate', 'result'];
    view.gridBody = el('tbody');
    view.grid = el('div', { className: 'table-wrap' }, [
      el('table', { className: 'data site-grid', 'data-testid': 'site-grid' }, [
        el('thead', null, [el('tr', null, cols.map((c) => el('th', { scope: 'col', text: t('ses.col.' + c) })))]),
        view.gridBody,
      ]),
    ]);
    view.chair = el('section', { className: 'meeting-chair', 'data-testid': 'meeting-chair' }, [
      el('h4', { text: t('ses.chairHeading') }),
      view.chairBar, view.chairFeedback, view.floor,
      el('h4', { text: t('ses.gridHeading') }), view.grid,
    ]);

    view.root = el('article', { className: 'meeting-card', 'data-testid': 'meeting-card-' + id }, [
      view.title, view.notice, view.facts, view.own, view.chair,
    ]);
    return view;
  }

  function renderMeetingDetail() {
    const m = state.meetings;
    const box = $('meeting-detail');
    const data = m.detail;
    if (!m.selected || !data || data.id !== m.selected) {
      box.hidden = !m.selected;
      if (m.selected && !data && m.loaded && !box.firstChild) {
        box.replaceChildren(el('p', { className: 'loading', text: t('app.loading') }));
      }
      return;
    }
    if (!m.view || m.view.id !== data.id) {
      m.view = buildMeetingView(data.id);
      box.replaceChildren(m.view.root);
    }
    box.hidden = false;
    const view = m.view;
    view.data = data;
    // The chair's controls come first at the chair site; a participant's own part elsewhere.
    if (data.role === 'chair' && view.own.nextSibling !== null && view.own.nextSibling === view.chair) {
      view.root.insertBefore(view.chair, view.own);
    }
    updateMeetingView(view, data);
  }

  function fact(name, value, testid, className) {
    return el('div', { className }, [el('dt', { text: name }), el('dd', { 'data-testid': testid, text: value })]);
  }

  function updateMeetingView(view, s) {
    const role = String(s.role || '');
    const live = s.state === 'live';
    const open = OPEN_MEETING_STATES.includes(s.state);
    setText(view.title, String(s.title ?? ''));
    const notice = obj(s.notice);
    view.notice.hidden = !(notice.ok === false && notice.message);
    setText(view.notice, notice.ok === false ? t('ses.noticeLate', { message: String(notice.message || '') }) : '');
    const rows = [
      fact(t('ses.field.state'), stateWord(s.state), 'meeting-state', 'state-' + s.state),
      fact(t('ses.field.kind'), kindWord(s.kind), 'meeting-kind'),
      fact(t('ses.field.chair'), (s.chair_name ? String(s.chair_name) : siteName(s.chair)), 'meeting-chair-site'),
      fact(t('ses.field.time'), timeRange(s), 'meeting-time'),
      fact(t('ses.field.approval'), s.approved ? t('ses.approvedBy', { user: String(s.approved_by || '') }) : t('ses.notApproved'), 'meeting-approved', s.approved ? 'ok' : 'warn'),
      fact(t('ses.field.participants'), String(arr(s.participants).length), 'meeting-count'),
    ];
    if (s.secret) rows.push(fact(t('ses.field.secretShort'), t('ses.secretLong'), 'meeting-secret', 'bad'));
    if (s.locked) rows.push(fact(t('ses.field.locked'), t('ses.lockedLong'), 'meeting-locked', 'warn'));
    if (s.rollcall_open) rows.push(fact(t('ses.field.rollcall'), t('ses.rollcallOpen'), 'meeting-rollcall', 'ok'));
    view.facts.replaceChildren(...rows);

    // This site's part (a relay only passes the session on).
    const mine = obj(s.my_status);
    const takesPart = role !== 'relay';
    view.own.hidden = !takesPart;
    const canAct = userIn(CREATOR_ROLES);
    view.ownReadonly.hidden = canAct;
    let invite;
    if (role === 'chair') invite = t('ses.inviteChair');
    else if (role === 'relay') invite = '';
    else invite = t('ses.invitation', { chair: (s.chair_name ? String(s.chair_name) : siteName(s.chair)), time: timeRange(s) }) + (role === 'delegate' ? ' ' + t('ses.inviteDelegate') : '');
    setText(view.invitation, invite);
    renderReadiness(view, obj(mine.readiness), open && canAct);

    const floor = obj(s.floor);
    const meSpeaking = state.meetings.site && floor.speaker === state.meetings.site.id;
    view.speaking.hidden = !(live && meSpeaking);
    const raised = handRaised(view, s);
    view.hand.hidden = !(live && canAct && role !== 'chair' && !meSpeaking);
    setText(view.hand, t(raised ? 'ses.lowerHand' : 'ses.raiseHand'));
    view.hand.setAttribute('aria-pressed', raised ? 'true' : 'false');
    const inCall = mine.in_call === true;
    view.join.hidden = !(open && canAct && !inCall);
    view.leave.hidden = !(open && canAct && inCall);

    const rollShown = s.rollcall_open === true && canAct;
    view.rollForm.hidden = !rollShown;
    const roll = obj(mine.rollcall);
    // Opened again later (or on another computer): start from what was sent.
    if (!view.rollFilled && typeof roll.attendees === 'number') {
      view.rollFilled = true;
      view.rollCount.value = String(roll.attendees);
      view.rollNames.value = arr(roll.names).join('\n');
    }
    view.rollDone.hidden = !(typeof roll.attendees === 'number');
    setText(view.rollDone, typeof roll.attendees === 'number' ? t('ses.rollcallSent', { n: roll.attendees }) : '');

    // The chair's part.
    const chairUser = userIn(CHAIR_ROLES);
    const isChair = role === 'chair';
    const controlsSites = (isChair || role === 'delegate') && chairUser;
    view.chair.hidden = !(isChair && (chairUser || userIn(APPROVER_ROLES))) && !controlsSites;
    view.approve.hidden = !(isChair && userIn(APPROVER_ROLES) && !s.approved && s.state === 'scheduled');
    const c = view.c;
    const show = (node, when) => { node.hidden = !(isChair && chairUser && when); };
    show(c.readiness, s.state === 'scheduled' && s.approved);
    show(c.start, s.approved && (s.state === 'scheduled' || s.state === 'readiness'));
    show(c.end, live);
    show(c.cancel, s.state === 'scheduled' || s.state === 'readiness');
    show(c.rollOpen, (s.state === 'readiness' || live) && !s.rollcall_open);
    show(c.rollClose, (s.state === 'readiness' || live) && s.rollcall_open === true);
    show(c.lock, open && !s.locked);
    show(c.unlock, open && s.locked === true);
    show(c.muteAll, live);
    show(c.unmuteAll, live);
    view.floor.hidden = !(isChair && chairUser && live);
    renderFloor(view, s);
    renderGrid(view, s, controlsSites, isChair && chairUser);
    tickFloor();
  }

  // Whether this site waits for the floor. The chair's queue is the truth (the chair may drop
  // a site from it without telling the site); a hand just raised counts until the queue
  // has had time to come back down the tree.
  const HAND_GRACE_MS = 10000;
  function handRaised(view, s) {
    const me = state.meetings.site ? state.meetings.site.id : null;
    const own = obj(obj(s && s.my_status).hand).raised === true;
    if (me !== null && arr(obj(s && s.floor).queue).includes(me)) return true;
    return own && view.handPressedAt !== undefined && Date.now() - view.handPressedAt < HAND_GRACE_MS;
  }

  function renderReadiness(view, readiness, canRun) {
    const items = arr(readiness.items).filter((i) => i && typeof i.check === 'string');
    view.readinessRerun.hidden = !canRun;
    view.readinessBox.hidden = items.length === 0 && !canRun;
    if (items.length === 0) {
      setText(view.readinessSummary, t('ses.readinessNone'));
      view.readinessSummary.dataset.ready = '';
      view.readinessList.replaceChildren();
      return;
    }
    const at = eventTime(readiness.at);
    setText(view.readinessSummary, t(readiness.ready ? 'ses.ready' : 'ses.notReady') +
      (at ? ' ' + t('ses.checkedAt', { time: at.text }) : ''));
    view.readinessSummary.dataset.ready = readiness.ready ? 'yes' : 'no';
    const order = (i) => { const k = READINESS_CHECKS.indexOf(i.check); return k < 0 ? 99 : k; };
    view.readinessList.replaceChildren(...[...items].sort((a, b) => order(a) - order(b)).map((i) => {
      const verdict = i.ok === true ? 'ok' : i.ok === false ? 'fail' : 'skip';
      return el('li', { className: 'check-item', dataset: { verdict }, 'data-testid': 'readiness-item-' + i.check }, [
        el('span', { className: 'check-name', text: label('ses.check', i.check) }),
        el('span', { className: 'check-verdict', text: t('ses.verdict.' + verdict) }),
        el('span', { className: 'check-detail', text: i.detail ? String(i.detail) : '' }),
      ]);
    }));
  }

  function renderFloor(view, s) {
    const floor = obj(s.floor);
    const speaker = typeof floor.speaker === 'string' ? floor.speaker : null;
    setText(view.speaker, speaker ? t('ses.speakerNow', { site: siteName(speaker) }) : t('ses.noSpeaker'));
    view.revoke.hidden = !speaker;
    const queue = arr(floor.queue).filter((q) => typeof q === 'string');
    view.next.hidden = queue.length === 0;
    view.queueEmpty.hidden = queue.length > 0;
    const sig = JSON.stringify(queue.map((q) => [q, siteName(q)]));
    if (sig === view.queueSig) return;
    view.queueSig = sig;
    view.queue.replaceChildren(...queue.map((site) => el('li', { 'data-testid': 'floor-queue-' + site }, [
      el('span', { className: 'queue-name', text: siteName(site) }),
      meetingButton(view, t('ses.floorGrant'), 'floor-grant-' + site, () => chairAction(view, 'floor.grant', site), 'btn-small btn-primary'),
      meetingButton(view, t('ses.floorLower'), 'floor-lower-' + site, () => chairAction(view, 'floor.lower', site), 'btn-small'),
    ])));
  }

  // The speaker's time left, counted down here between polls.
  function tickFloor() {
    const m = state.meetings;
    const view = m.view;
    const s = m.detail;
    if (!view || !s || view.id !== s.id) return;
    const floor = obj(s.floor);
    const speaking = typeof floor.speaker === 'string' && typeof floor.remaining === 'number';
    if (!speaking) {
      setText(view.countdown, '');
      setText(view.speaking, '');
      return;
    }
    const left = floor.remaining - (Date.now() - m.detailAt) / 1000;
    const over = left < 0 || floor.overtime === true;
    const text = over ? t('ses.overtime', { time: fmtClock(left) }) : t('ses.remaining', { time: fmtClock(left) });
    setText(view.countdown, text);
    view.countdown.dataset.over = over ? 'yes' : 'no';
    setText(view.speaking, t('ses.youSpeak') + ' · ' + text);
    view.speaking.dataset.over = over ? 'yes' : 'no';
  }

  function readinessCell(status) {
    const r = obj(status.readiness);
    const items = arr(r.items);
    if (items.length === 0) return [el('span', { className: 'muted', text: t('ses.readinessNone') })];
    const failed = items.filter((i) => i && i.ok === false);
    const out = [el('strong', { className: r.ready ? 'good' : 'bad', text: t(r.ready ? 'ses.readyShort' : 'ses.notReadyShort') })];
    for (const f of failed) {
      out.push(el('span', { className: 'sub', text: label('ses.check', f.check) + ': ' + String(f.detail || '') }));
    }
    return out;
  }

  function buildGridRow(view, site) {
    const cells = {};
    for (const k of ['site', 'online', 'readiness', 'rollcall', 'hand', 'link', 'local', 'delegate', 'result']) {
      cells[k] = el('td', { className: 'col-' + k, 'data-testid': 'site-' + k + '-' + site });
    }
    const act = (key, testid, action, args, cls) => meetingButton(view, t(key), testid + '-' + site,
      () => chairAction(view, action, site, args), 'btn-small ' + (cls || ''));
    const preset = el('input', { type: 'number', min: '0', max: '255', step: '1', value: '1', inputmode: 'numeric', className: 'preset-number', 'data-testid': 'site-preset-' + site, 'aria-label': t('ses.presetNumber') });
    const controls = {
      mute: act('ses.act.mute', 'site-mute', 'mute', { on: true }),
      unmute: act('ses.act.unmute', 'site-unmute', 'mute', { on: false }),
      preset,
      presetGo: meetingButton(view, t('ses.act.preset'), 'site-preset-go-' + site, () => {
        const n = Number.parseInt(preset.value, 10);
        if (!Number.isInteger(n) || n < 0 || n > 255) {
          setRowResult(view, site, t('ses.badPreset'), 'error');
          return null;
        }
        return chairAction(view, 'camera', site, { command: 'preset.recall', args: { preset: n } });
      }, 'btn-small'),
      home: act('ses.act.home', 'site-home', 'camera', { command: 'home', args: {} }),
      projOn: act('ses.act.projOn', 'site-proj-on', 'projector', { command: 'power', args: { on: true } }),
      projOff: act('ses.act.projOff', 'site-proj-off', 'projector', { command: 'power', args: { on: false } }),
      check: act('ses.act.check', 'site-check', 'readiness.run', {}),
      delegate: act('ses.act.delegate', 'site-delegate-btn', 'delegate', { root: site }),
      undelegate: act('ses.act.undelegate', 'site-undelegate', 'undelegate', {}),
    };
    // The controls take a row of their own under the site's facts: the table stays readable
    // at 1366 px, and each group says what it acts on.
    const group = (key, nodes) => el('span', { className: 'ctl-group' }, [el('span', { className: 'ctl-label', text: t(key) }), ...nodes]);
    const controlCell = el('td', { className: 'col-controls', colspan: '9' }, [
      el('div', { className: 'grid-controls', 'data-testid': 'site-controls-' + site }, [
        group('ses.grp.mic', [controls.mute, controls.unmute]),
        group('ses.grp.camera', [preset, controls.presetGo, controls.home]),
        group('ses.grp.projector', [controls.projOn, controls.projOff]),
        group('ses.grp.other', [controls.check, controls.delegate, controls.undelegate]),
      ]),
    ]);
    const tr = el('tr', { className: 'site-row', 'data-testid': 'site-row-' + site }, Object.values(cells));
    const ctr = el('tr', { className: 'site-controls-row' }, [controlCell]);
    return { tr, ctr, cells, controls, controlCell };
  }

  function renderGrid(view, s, controlsSites, isChair) {
    const sites = arr(s.sites).filter((x) => x && typeof x.id === 'string');
    const floor = obj(s.floor);
    const queue = arr(floor.queue);
    const seen = new Set();
    const trs = [];
    for (const site of sites) {
      seen.add(site.id);
      let row = view.rows.get(site.id);
      if (!row) {
        row = buildGridRow(view, site.id);
        view.rows.set(site.id, row);
      }
      const status = obj(site.status);
      const summary = obj(site.summary);
      const c = row.cells;
      const isSelf = state.meetings.site && site.id === state.meetings.site.id;
      c.site.replaceChildren(el('strong', { text: String(site.name || site.id) }),
        el('span', { className: 'sub', text: label('level', site.level) + (site.id === s.chair ? ' · ' + t('ses.chairSite') : '') }));
      c.online.replaceChildren(el('span', { className: 'pill', dataset: { state: site.online ? 'online' : 'offline' }, text: t(site.online ? 'ses.online' : 'ses.offline') }));
      c.readiness.replaceChildren(...readinessCell(status));
      const roll = obj(status.rollcall);
      c.rollcall.replaceChildren(typeof roll.attendees === 'number'
        ? el('span', { text: t('ses.attendees', { n: roll.attendees }), title: arr(roll.names).join(', ') })
        : el('span', { className: 'muted', text: t('common.none') }));
      // The queue, not the site's own report: the chair may have dropped it from the queue.
      const handUp = queue.includes(site.id);
      const speaking = floor.speaker === site.id;
      c.hand.replaceChildren(el('span', { className: speaking ? 'good' : handUp ? 'warn-text' : 'muted',
        text: speaking ? t('ses.speaking') : handUp ? t('ses.handUp') : t('common.none') }));
      const link = LINK_COLOURS.includes(summary.link) ? summary.link : 'none';
      c.link.replaceChildren(el('span', { className: 'link-dot', dataset: { link }, text: t('ses.link.' + link) }));
      // The session status is sent at once; the summary comes with the next heartbeat.
      const local = typeof status.local_control_only === 'boolean'
        ? status.local_control_only : summary.local_control_only === true;
      c.local.replaceChildren(el('span', { className: local ? 'warn-text' : 'muted', text: local ? t('ses.localOnly') : t('common.none') }));
      c.delegate.replaceChildren(el('span', { text: site.delegate ? siteName(site.delegate) : t('common.none') }));
      const result = view.results.get(site.id);
      c.result.replaceChildren(result ? el('span', { className: 'result', dataset: { kind: result.kind }, text: result.text }) : '');
      const k = row.controls;
      const delegated = (arr(s.delegations).some((d) => d && d.site === site.id));
      k.delegate.hidden = !isChair || isSelf || delegated || s.locked === true;
      k.undelegate.hidden = !isChair || !delegated;
      // A site obeys room commands only while the session is live (its check from readiness on).
      for (const node of [k.mute, k.unmute, k.preset, k.presetGo, k.home, k.projOn, k.projOff]) {
        node.hidden = s.state !== 'live';
      }
      k.check.hidden = !(s.state === 'live' || s.state === 'readiness');
      for (const g of row.controlCell.querySelectorAll('.ctl-group')) {
        g.hidden = [...g.querySelectorAll('button')].every((b) => b.hidden);
      }
      trs.push(row.tr);
      if (controlsSites && [...row.controlCell.querySelectorAll('.ctl-group')].some((g) => !g.hidden)) {
        trs.push(row.ctr);
      }
    }
    for (const id of [...view.rows.keys()]) if (!seen.has(id)) view.rows.delete(id);
    placeChildren(view.gridBody, trs);
  }

  function setRowResult(view, site, text, kind) {
    view.results.set(site, { text, kind });
    const row = view.rows.get(site);
    if (row) row.cells.result.replaceChildren(el('span', { className: 'result', dataset: { kind }, text }));
  }

  // One site's result in plain words: what was done, or why not.
  function resultText(action, r) {
    const what = label('ses.did', action);
    if (r.ok) return t('ses.resultOk', { what });
    const why = r.message ? String(r.message) : label('ses.code', r.code);
    return t('ses.resultFail', { what, why });
  }

  async function chairAction(view, action, site, args) {
    const epoch = state.epoch;
    const body = { action, args: args || {} };
    if (site) body.site = site;
    try {
      const out = await api('POST', sessionPath(view.id, '/chair'), body);
      if (epoch !== state.epoch) return;
      const results = obj(out.results);
      const entries = Object.entries(results);
      const failed = entries.filter(([, r]) => !obj(r).ok);
      for (const [id, r] of entries) setRowResult(view, id, resultText(action, obj(r)), obj(r).ok ? 'ok' : 'error');
      if (failed.length) {
        feedback(view.chairFeedback, t('ses.someFailed', { what: label('ses.did', action), n: failed.length, total: entries.length }), 'error');
      } else {
        feedback(view.chairFeedback, t('ses.resultOk', { what: label('ses.did', action) }), 'ok');
      }
      clearError();
    } catch (err) {
      if (epoch !== state.epoch || err.handled) return;
      reportError(err);
      const text = t('ses.resultFail', { what: label('ses.did', action), why: err.message });
      if (site) setRowResult(view, site, text, 'error');
      feedback(view.chairFeedback, text, 'error');
    }
    refreshMeetingsSoon();
  }

  async function approveMeeting(view) {
    const epoch = state.epoch;
    try {
      await api('POST', sessionPath(view.id, '/approve'));
      if (epoch !== state.epoch) return;
      feedback(view.chairFeedback, t('ses.approvedDone'), 'ok');
      clearError();
    } catch (err) {
      if (epoch !== state.epoch || err.handled) return;
      reportError(err);
      feedback(view.chairFeedback, err.message, 'error');
    }
    refreshMeetingsSoon();
  }

  // This site's own actions: readiness, hand, join, leave (and roll call below).
  async function ownAction(view, action, body, doneKey) {
    const epoch = state.epoch;
    try {
      await api('POST', sessionPath(view.id, '/' + action), body === undefined ? {} : body);
      if (epoch !== state.epoch) return;
      feedback(view.ownFeedback, t(doneKey), 'ok');
      clearError();
    } catch (err) {
      if (epoch !== state.epoch || err.handled) return;
      const message = err.code === 'no_bridge' ? t('ses.noBridge') : err.message;
      showError(message, err.code === 'no_bridge' ? err.message : err.detail);
      feedback(view.ownFeedback, message, 'error');
    }
    refreshMeetingsSoon();
  }

  async function submitRollcall(view) {
    const n = Number(view.rollCount.value);
    const names = view.rollNames.value.split('\n').map((x) => x.trim()).filter((x) => x);
    if (view.rollCount.value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 10000) {
      showError(t('ses.rollcallBadCount'));
      view.rollCount.focus();
      return;
    }
    if (names.some((x) => x.length > 120)) {
      showError(t('ses.rollcallLongName'));
      return;
    }
    const button = view.rollForm.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await ownAction(view, 'rollcall', { attendees: n, names }, 'ses.rollcallDone');
    } finally {
      button.disabled = false;
    }
  }

  // -- creating a session

  function openMeetingForm() {
    // Two hours ahead, on the next 5 minutes: clear of the readiness lead time (1 h by default),
    // which would move a session due sooner to "Đang chuẩn bị" at once.
    const FIVE_MIN = 5 * 60 * 1000;
    const start = new Date(Math.ceil((Date.now() + 2 * 60 * 60 * 1000) / FIVE_MIN) * FIVE_MIN);
    const end = new Date(start.getTime() + 2 * 60 * 60 * 1000);
    $('new-title').value = '';
    $('new-kind').value = 'regular';
    $('new-starts').value = localInputValue(start);
    $('new-ends').value = localInputValue(end);
    $('new-secret').checked = false;
    $('meeting-form').hidden = false;
    $('meeting-new').hidden = true;
    renderSitePicker();
    loadMeetingSite();
    $('new-title').focus();
  }

  function closeMeetingForm() {
    $('meeting-form').hidden = true;
    renderMeetingList();
  }

  // The subtree as a list in tree order, each site with its depth.
  function subtreeOrder(site) {
    const entries = arr(site && site.subtree).filter((e) => e && typeof e.id === 'string');
    const ids = new Set(entries.map((e) => e.id));
    const kids = new Map();
    for (const e of entries) {
      const p = ids.has(e.parent) ? e.parent : '';
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p).push(e);
    }
    const out = [];
    const walk = (p, depth) => {
      for (const e of (kids.get(p) || []).sort((a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id), 'vi'))) {
        out.push({ e, depth, leaf: !kids.has(e.id) });
        walk(e.id, depth + 1);
      }
    };
    walk('', 0);
    return out;
  }

  function renderSitePicker() {
    const list = $('new-sites');
    const checked = new Set([...list.querySelectorAll('input:checked')].map((i) => i.dataset.key));
    const rows = subtreeOrder(state.meetings.site).map(({ e, depth, leaf }) => {
      const id = domId('new-site');
      const part = el('input', { type: 'checkbox', id, 'data-testid': 'new-part-' + e.id, dataset: { key: 'p:' + e.id, site: e.id } });
      part.checked = checked.has('p:' + e.id);
      const bits = [part, el('label', { for: id }, [
        el('span', { className: 'pill', dataset: { state: e.online ? 'online' : 'offline' }, text: t(e.online ? 'ses.online' : 'ses.offline') }),
        ' ', String(e.name || e.id), el('span', { className: 'muted', text: ' · ' + label('level', e.level) }),
      ])];
      if (!leaf) {
        const bid = domId('new-branch');
        const branch = el('input', { type: 'checkbox', id: bid, 'data-testid': 'new-branch-' + e.id, dataset: { key: 'b:' + e.id, site: e.id } });
        branch.checked = checked.has('b:' + e.id);
        bits.push(el('span', { className: 'branch' }, [branch, el('label', { for: bid, text: t('ses.wholeBranch') })]));
      }
      return el('li', { className: 'site-pick', dataset: { depth: String(Math.min(depth, 6)) } }, bits);
    });
    list.replaceChildren(...rows);
    $('new-sites-empty').hidden = rows.length > 0;
  }

  async function submitMeeting(event) {
    event.preventDefault();
    const title = $('new-title').value.trim();
    const startsAt = localIso($('new-starts').value);
    const endsAt = localIso($('new-ends').value);
    const picked = (prefix) => [...$('new-sites').querySelectorAll('input:checked')]
      .filter((i) => i.dataset.key.startsWith(prefix)).map((i) => i.dataset.site);
    const participants = picked('p:');
    const subtrees = picked('b:');
    if (!title || !startsAt || !endsAt) return showError(t('err.required'));
    if (new Date($('new-ends').value) <= new Date($('new-starts').value)) return showError(t('ses.endBeforeStart'));
    if (participants.length + subtrees.length === 0) return showError(t('ses.pickSites'));
    const body = { title, kind: $('new-kind').value, participants, subtrees, starts_at: startsAt,
      ends_at: endsAt, secret: $('new-secret').checked };
    const epoch = state.epoch;
    await withDisabled($('meeting-form'), async () => {
      try {
        const created = await api('POST', '/api/v1/sessions', body);
        if (epoch !== state.epoch) return;
        $('meeting-form').hidden = true;
        $('new-sites').replaceChildren();
        showNotice(t('ses.created', { title: String(created.title || title) }));
        if (typeof created.id === 'string') selectMeeting(created.id, true);
      } catch (err) {
        if (epoch === state.epoch) reportError(err);
      }
    });
  }

  // ---------------------------------------------------------------- incidents

  // The "Sự cố" section: this site's and its subtree's incidents, grouped under their common
  // cause, with the officer's actions on this site's own incidents and the one-page report.
  // Polled every 3 s while visible; the detail is built once per incident (and language) and
  // filled on every poll, so a note being typed is never lost.
  const INCIDENT_POLL_MS = 3000;
  const INCIDENT_ROLES = ['operator', 'chair'];
  const SEVERITIES = ['minor', 'major', 'critical'];
  const INCIDENT_STATES = ['open', 'acknowledged', 'resolved'];

  function freshIncidents() {
    return { list: [], loaded: false, selected: null, detail: null, view: null, timer: null,
      seq: 0, pollError: null, listSig: '', updatedAt: null };
  }

  const incidentsShown = () => state.user !== null && state.section === 'incidents' &&
    document.visibilityState !== 'hidden';
  const incidentPath = (id, tail) => '/api/v1/incidents/' + encodeURIComponent(id) + (tail || '');
  const canHandle = () => userIn(INCIDENT_ROLES);
  const ownSiteId = () => (state.site ? String(state.site.id ?? '') : null);

  function startIncidents() {
    $('inc-readonly').hidden = canHandle();
    $('inc-report-open').hidden = !canHandle() || !$('inc-new-form').hidden;
    if (!state.site) loadSite();
    loadIncidents();
  }

  function stopIncidents() {
    const m = state.incidents;
    clearTimeout(m.timer);
    m.timer = null;
    m.seq += 1; // an answer still on its way is dropped
  }

  function resetIncidents() {
    stopIncidents();
    state.incidents = freshIncidents();
    $('inc-body').replaceChildren();
    $('inc-detail').replaceChildren();
    $('inc-detail').hidden = true;
    $('inc-new-form').hidden = true;
    $('inc-updated').textContent = '';
  }

  async function loadIncidents() {
    const m = state.incidents;
    clearTimeout(m.timer);
    m.timer = null;
    const seq = ++m.seq;
    const selected = m.selected;
    const query = `?state=${encodeURIComponent($('inc-filter-state').value)}` +
      `&scope=${encodeURIComponent($('inc-filter-scope').value)}`;
    let list;
    let detail = null;
    try {
      [list, detail] = await Promise.all([
        api('GET', '/api/v1/incidents' + query, undefined, { background: true }),
        selected ? api('GET', incidentPath(selected), undefined, { background: true })
          .catch((err) => (err.code === 'incident_not_found' ? { gone: true } : Promise.reject(err)))
          : Promise.resolve(null),
      ]);
    } catch (err) {
      if (seq === m.seq && !err.handled) {
        if (err.message !== m.pollError) reportError(err);
        m.pollError = err.message;
      }
      return;
    } finally {
      if (seq === m.seq && incidentsShown()) m.timer = setTimeout(loadIncidents, INCIDENT_POLL_MS);
    }
    if (seq !== m.seq) return;
    if (m.pollError !== null) {
      if ($('alert').textContent === m.pollError) clearError();
      m.pollError = null;
    }
    m.list = arr(list.incidents).filter((i) => i && typeof i.id === 'string');
    m.loaded = true;
    m.updatedAt = new Date();
    if (selected === m.selected) {
      if (detail && detail.gone) {
        showError(t('inc.gone'));
        m.selected = null;
        m.view = null;
        m.detail = null;
        $('inc-detail').replaceChildren();
      } else {
        m.detail = detail;
      }
    }
    renderIncidents();
  }

  function refreshIncidentsSoon() {
    if (incidentsShown()) loadIncidents();
  }

  function selectIncident(id) {
    const m = state.incidents;
    if (m.selected !== id) {
      m.selected = id;
      m.detail = null;
      m.view = null;
      $('inc-detail').replaceChildren();
    }
    renderIncidents();
    loadIncidents();
  }

  function closeIncident() {
    const m = state.incidents;
    m.selected = null;
    m.detail = null;
    m.view = null;
    $('inc-detail').replaceChildren();
    renderIncidents();
  }

  function rebuildIncidents() {
    const m = state.incidents;
    m.view = null;
    m.listSig = '';
    $('inc-detail').replaceChildren();
    if (m.loaded) renderIncidents();
  }

  // -- words

  const sevWord = (s) => label('inc.sev', SEVERITIES.includes(s) ? s : '');
  const incStateWord = (s) => label('inc.state', INCIDENT_STATES.includes(s) ? s : '');

  function durationText(seconds) {
    let s = Math.max(0, Math.round(Number(seconds) || 0));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const parts = [];
    if (d) parts.push(t('inc.dur.d', { n: d }));
    if (h) parts.push(t('inc.dur.h', { n: h }));
    if (m) parts.push(t('inc.dur.m', { n: m }));
    if (s && !d) parts.push(t('inc.dur.s', { n: s }));
    return parts.join(' ') || t('inc.dur.s', { n: 0 });
  }

  function restoreText(i) {
    const ttr = num(i.time_to_restore);
    if (ttr !== null) return durationText(ttr);
    const opened = parseTime(i.opened_at);
    return opened ? t('inc.ongoing', { d: durationText((Date.now() - opened.getTime()) / 1000) }) : t('common.none');
  }

  function originName(id) {
    const site = state.site;
    if (site) {
      if (site.id === id && site.name) return String(site.name);
      const s = arr(site.subtree).find((x) => x && x.id === id);
      if (s && s.name) return String(s.name);
    }
    return String(id ?? '');
  }

  // The regulatory clocks in a few words; overdue ones in red.
  function clocksCell(i) {
    const overdue = arr(i.overdue);
    const td = el('td', { className: 'inc-clocks', 'data-testid': 'incident-clocks-' + i.id });
    if (!i.serious) {
      td.textContent = t('common.none');
      return td;
    }
    const lines = [];
    if (overdue.includes('notice')) lines.push(['late', t('inc.clock.noticeLate')]);
    else if (!i.notice_sent_at && i.notice_due) lines.push(['', t('inc.clock.noticeDue', { time: formatTime(i.notice_due) })]);
    if (overdue.includes('report')) lines.push(['late', t('inc.clock.reportLate')]);
    else if (!i.report_sent_at && i.report_due) lines.push(['', t('inc.clock.reportDue', { time: formatTime(i.report_due) })]);
    if (!lines.length) lines.push(['ok', t('inc.clock.allSent')]);
    td.append(...lines.map(([kind, text]) => el('span', { className: 'clock-line' + (kind ? ' is-' + kind : ''), text })));
    return td;
  }

  function clockFact(due, sent, late) {
    if (!due) return t('common.none');
    if (sent) return t('inc.clock.sent', { time: formatTime(sent) });
    return late ? t('inc.clock.late', { time: formatTime(due) }) : t('inc.clock.due', { time: formatTime(due) });
  }

  // -- the list: causes first, the incidents they caused right under them

  function orderedIncidents(list) {
    const ids = new Set(list.map((i) => i.id));
    const children = new Map();
    const top = [];
    for (const i of list) {
      if (i.cause && ids.has(i.cause) && i.cause !== i.id) {
        if (!children.has(i.cause)) children.set(i.cause, []);
        children.get(i.cause).push(i);
      } else {
        top.push(i);
      }
    }
    const out = [];
    for (const i of top) {
      out.push([i, false]);
      for (const c of children.get(i.id) || []) out.push([c, true]);
    }
    return out;
  }

  function renderIncidents() {
    const m = state.incidents;
    $('inc-loading').hidden = m.loaded;
    $('inc-empty').hidden = !m.loaded || m.list.length > 0;
    $('inc-empty').textContent = t($('inc-filter-state').value === 'all' ? 'inc.emptyAll' : 'inc.emptyUnresolved');
    $('inc-table').hidden = !m.loaded || m.list.length === 0;
    $('inc-updated').textContent = m.updatedAt ? t('inc.updated', { time: clockTime(m.updatedAt) }) : '';
    const byId = new Map(m.list.map((i) => [i.id, i]));
    // Rebuilt only when something shown changed (the ongoing duration counts in minutes).
    const shownFields = m.list.map((i) => [i.id, i.title, i.severity, i.state, i.origin, i.cause,
      i.time_to_restore, i.overdue, i.notice_sent_at, i.report_sent_at]);
    const sig = JSON.stringify([state.lang, m.selected, shownFields, state.site && state.site.id,
      Math.floor(Date.now() / 60000)]);
    if (sig !== m.listSig) {
      m.listSig = sig;
      $('inc-body').replaceChildren(...orderedIncidents(m.list).map(([i, grouped]) => {
        const open = el('button', { type: 'button', className: 'link-button inc-open', 'data-testid': 'incident-open-' + i.id,
          'aria-pressed': i.id === m.selected ? 'true' : 'false', text: String(i.title || i.id) });
        open.addEventListener('click', () => selectIncident(i.id));
        const titleCell = el('td', { className: 'inc-title' }, [open]);
        if (i.cause) {
          const cause = byId.get(i.cause);
          const why = el('button', { type: 'button', className: 'link-button inc-cause', 'data-testid': 'incident-cause-' + i.id,
            text: t('inc.causedBy', { title: cause ? String(cause.title || cause.id) : String(i.cause) }) });
          why.addEventListener('click', () => selectIncident(i.cause));
          titleCell.append(why);
        }
        return el('tr', { className: (grouped ? 'is-grouped ' : '') + (i.id === m.selected ? 'is-selected' : ''),
          'data-testid': 'incident-row-' + i.id, dataset: { state: String(i.state), severity: String(i.severity) } }, [
          el('td', null, [el('span', { className: 'badge sev-badge', dataset: { severity: String(i.severity) }, text: sevWord(i.severity) })]),
          titleCell,
          el('td', { text: originName(i.origin) }),
          el('td', { className: 'inc-state', dataset: { state: String(i.state) }, 'data-testid': 'incident-state-' + i.id, text: incStateWord(i.state) }),
          timeCell(i.opened_at),
          el('td', { 'data-testid': 'incident-restore-' + i.id, text: restoreText(i) }),
          clocksCell(i),
        ]);
      }));
    }
    renderIncidentDetail();
  }

  // -- the detail

  function buildIncidentView(id) {
    const own = {};
    const title = el('h2', { className: 'incident-title', 'data-testid': 'incident-title', tabindex: '-1' });
    const badges = el('div', { className: 'badges' });
    const close = el('button', { type: 'button', className: 'btn btn-quiet', 'data-testid': 'incident-close', text: t('inc.close') });
    close.addEventListener('click', closeIncident);
    const facts = el('dl', { className: 'facts incident-facts', 'data-testid': 'incident-facts' });
    const readonly = el('p', { className: 'readonly-note', 'data-testid': 'incident-readonly', hidden: true });
    const feedbackNode = el('p', { className: 'device-feedback', role: 'status', 'data-testid': 'incident-feedback' });

    const act = async (button, path, body, doneKey) => {
      try {
        await api('POST', incidentPath(id, path), body);
        feedback(feedbackNode, t(doneKey), 'ok');
        refreshIncidentsSoon();
        return true;
      } catch (err) {
        if (!err.handled) feedback(feedbackNode, err.message || t('err.http', { status: err.status }), 'error');
        return false;
      }
    };
    own.ack = meetingButton(own, t('inc.acknowledge'), 'incident-acknowledge',
      (b) => act(b, '/acknowledge', undefined, 'inc.done.acknowledge'), 'btn-primary');
    own.sentNotice = meetingButton(own, t('inc.sentNotice'), 'incident-sent-notice',
      (b) => act(b, '/sent', { document: 'notice' }, 'inc.done.notice'));
    own.sentReport = meetingButton(own, t('inc.sentReport'), 'incident-sent-report',
      (b) => act(b, '/sent', { document: 'report' }, 'inc.done.report'));

    const noteId = domId('inc-note');
    const noteInput = el('textarea', { id: noteId, rows: '2', maxlength: '1000', 'data-testid': 'incident-note-text' });
    const noteBtn = meetingButton(own, t('inc.note'), 'incident-note-submit', async (b) => {
      const text = noteInput.value.trim();
      if (!text) return feedback(feedbackNode, t('inc.noteEmpty'), 'error');
      if (await act(b, '/note', { text }, 'inc.done.note')) noteInput.value = '';
    });
    own.noteForm = el('div', { className: 'field incident-note' }, [
      el('label', { for: noteId, text: t('inc.noteLabel') }), noteInput, el('div', { className: 'toolbar-buttons' }, [noteBtn])]);

    const resolveId = domId('inc-resolve');
    const resolveInput = el('input', { id: resolveId, type: 'text', maxlength: '1000', 'data-testid': 'incident-resolution' });
    const resolveBtn = meetingButton(own, t('inc.resolve'), 'incident-resolve', async (b) => {
      if (await act(b, '/resolve', { resolution: resolveInput.value.trim() }, 'inc.done.resolve')) resolveInput.value = '';
    });
    own.resolveForm = el('div', { className: 'field incident-resolve' }, [
      el('label', { for: resolveId, text: t('inc.resolveLabel') }), resolveInput, el('div', { className: 'toolbar-buttons' }, [resolveBtn])]);

    const actions = el('div', { className: 'incident-actions', 'data-testid': 'incident-actions', role: 'group', 'aria-label': t('inc.actions') }, [
      el('h3', { text: t('inc.actions') }),
      el('div', { className: 'button-row' }, [own.ack, own.sentNotice, own.sentReport]),
      own.noteForm, own.resolveForm,
    ]);

    const link = (format, key) => el('a', { className: 'btn btn-small', href: incidentPath(id, '/report?format=' + format),
      target: '_blank', rel: 'noopener', 'data-testid': 'incident-report-' + format, text: t(key) });
    const reports = el('p', { className: 'incident-reports', 'data-testid': 'incident-reports' }, [
      el('strong', { text: t('inc.reports') }), ' ',
      link('html', 'inc.report.html'), ' ', link('pdf', 'inc.report.pdf'), ' ', link('json', 'inc.report.json')]);

    const timeline = el('ol', { className: 'event-list incident-timeline', 'data-testid': 'incident-timeline' });
    const root = el('article', { className: 'meeting-card incident-card', 'data-testid': 'incident-card-' + id }, [
      el('div', { className: 'meeting-head' }, [title, close]), badges, facts, reports, readonly, actions, feedbackNode,
      el('h3', { text: t('inc.timeline') }), timeline,
    ]);
    return { id, root, title, badges, facts, readonly, actions, timeline, own, feedback: feedbackNode };
  }

  function timelineText(e) {
    if (e.type === 'recovery') return eventText({ name: e.text, data: e.data });
    return String(e.text ?? '');
  }

  function updateIncidentView(view, i) {
    setText(view.title, String(i.title || i.id));
    view.badges.replaceChildren(
      el('span', { className: 'badge sev-badge', dataset: { severity: String(i.severity) }, text: sevWord(i.severity) }),
      el('span', { className: 'badge inc-state-badge', dataset: { state: String(i.state) }, 'data-testid': 'incident-detail-state', text: incStateWord(i.state) }));
    const overdue = arr(i.overdue);
    const rows = [
      [t('inc.fact.site'), originName(i.origin)],
      [t('inc.fact.subject'), String(i.subject ?? '')],
      [t('inc.fact.opened'), formatTime(i.opened_at)],
      [t('inc.fact.acknowledged'), i.acknowledged_at ? t('inc.by', { time: formatTime(i.acknowledged_at), who: String(i.acknowledged_by ?? '') }) : t('common.none')],
      [t('inc.fact.resolved'), i.resolved_at ? t('inc.by', { time: formatTime(i.resolved_at), who: String(i.resolved_by ?? '') }) : t('common.none')],
      [t('inc.fact.restore'), restoreText(i), '', 'incident-detail-restore'],
    ];
    if (i.resolution) rows.push([t('inc.fact.resolution'), String(i.resolution)]);
    if (i.session) rows.push([t('inc.fact.session'), String(i.session)]);
    if (i.cause) rows.push([t('inc.fact.cause'), String(i.cause)]);
    if (i.serious) {
      rows.push([t('inc.fact.notice'), clockFact(i.notice_due, i.notice_sent_at, overdue.includes('notice')), overdue.includes('notice') ? 'late' : '', 'incident-detail-notice']);
      rows.push([t('inc.fact.report'), clockFact(i.report_due, i.report_sent_at, overdue.includes('report')), overdue.includes('report') ? 'late' : '', 'incident-detail-report']);
    }
    view.facts.replaceChildren(...rows.map(([k, v, kind, testid]) => el('div', { className: kind ? 'is-' + kind : undefined }, [
      el('dt', { text: k }), el('dd', { text: v, 'data-testid': testid })])));

    const own = i.origin === ownSiteId();
    const may = canHandle() && own;
    view.actions.hidden = !may;
    view.readonly.hidden = may;
    if (!may) {
      view.readonly.replaceChildren(el('strong', { className: 'readonly-badge', text: t('dev.viewOnly') }), ' ',
        canHandle() ? t('inc.otherSite', { site: originName(i.origin) }) : t('inc.viewOnlyWhy'));
    }
    const resolved = i.state === 'resolved';
    view.own.ack.hidden = i.state !== 'open';
    view.own.resolveForm.hidden = resolved;
    view.own.sentNotice.hidden = !i.serious || !!i.notice_sent_at;
    view.own.sentReport.hidden = !i.serious || !!i.report_sent_at;

    const entries = arr(i.timeline);
    const sig = JSON.stringify([state.lang, entries.length, entries.length && entries[entries.length - 1].at]);
    if (view.timeline._sig !== sig) {
      view.timeline._sig = sig;
      view.timeline.replaceChildren(...entries.map((e) => el('li', { dataset: { type: String(e.type) } }, [
        el('time', { text: formatTime(e.at) }),
        el('span', null, [el('strong', { text: label('inc.tl', e.type) }),
          ': ' + timelineText(e) + (e.by ? ` (${String(e.by)})` : '')]),
      ])));
    }
  }

  function renderIncidentDetail() {
    const m = state.incidents;
    const box = $('inc-detail');
    if (!m.selected) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    if (!m.view || m.view.id !== m.selected) {
      m.view = buildIncidentView(m.selected);
      box.replaceChildren(m.view.root);
      m.view.title.textContent = t('app.loading');
    }
    if (m.detail && m.detail.id === m.selected) updateIncidentView(m.view, m.detail);
  }

  // -- reporting a problem

  function openIncidentForm() {
    $('inc-new-form').hidden = false;
    $('inc-report-open').hidden = true;
    $('inc-new-alert').textContent = '';
    $('inc-new-title').value = '';
    $('inc-new-description').value = '';
    $('inc-new-severity').value = 'major';
    $('inc-new-title').focus();
  }

  function closeIncidentForm() {
    $('inc-new-form').hidden = true;
    $('inc-report-open').hidden = !canHandle();
  }

  async function submitIncident(event) {
    event.preventDefault();
    const where = $('inc-new-alert');
    const title = $('inc-new-title').value.trim();
    if (!title) {
      where.textContent = t('inc.new.titleMissing');
      $('inc-new-title').focus();
      return;
    }
    const body = { title, severity: $('inc-new-severity').value };
    const description = $('inc-new-description').value.trim();
    if (description) body.description = description;
    await withDisabled(event.currentTarget, async () => {
      try {
        const created = await api('POST', '/api/v1/incidents', body);
        closeIncidentForm();
        showNotice(t('inc.new.done', { title }));
        if (created && typeof created.id === 'string') selectIncident(created.id);
        else loadIncidents();
      } catch (err) {
        reportError(err, where);
      }
    });
  }

  // ---------------------------------------------------------------- reports

  // Who may read reports and mark them filed (the server checks it too).
  const REPORT_ROLES = ['admin', 'auditor', 'chair', 'operator'];
  const FILER_ROLES = ['admin', 'auditor'];
  const REPORT_FORMATS = ['pdf', 'xlsx', 'csv', 'json'];
  const REPORT_YEARS = 3; // this year and the two before it

  const mayReadReports = () => userIn(REPORT_ROLES);

  // yyyy-mm-dd (a calendar day, no time zone) as dd/mm/yyyy.
  function formatDay(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso ?? ''));
    return m ? `${m[3]}/${m[2]}/${m[1]}` : (iso ? String(iso) : t('common.none'));
  }

  const fmtRate = (v) => (num(v) === null ? t('common.none') : fmtNum(v * 100, 1) + '%');
  const fmtPlain = (v, digits = 1) => (num(v) === null ? t('common.none') : fmtNum(v, digits));
  const fmtAvailability = (v) => (num(v) === null ? t('common.none') : fmtNum(v, 2) + '%');

  function openReports() {
    const r = state.reports;
    if (!r.ready) {
      // The period nearest today: the second half from mid-June on.
      const now = new Date();
      const year = now.getFullYear();
      const years = Array.from({ length: REPORT_YEARS }, (_, i) => String(year - i));
      $('rep-year').replaceChildren(...years.map((y) => el('option', { value: y, text: y })));
      $('rep-year').value = String(year);
      const secondHalf = now.getMonth() > 5 || (now.getMonth() === 5 && now.getDate() >= 15);
      $('rep-kind').value = secondHalf ? 'H2' : 'H1';
      r.ready = true;
    }
    $('rep-alert').textContent = '';
    renderReportForm();
    renderReport();
    if (mayReadReports()) loadReportSite();
  }

  // The scope choice only matters when sites report to this one.
  async function loadReportSite() {
    const epoch = state.epoch;
    try {
      const site = await api('GET', '/api/v1/site');
      if (epoch !== state.epoch) return;
      state.site = site;
      renderHeader();
      renderReportForm();
    } catch (err) {
      reportError(err);
    }
  }

  function siteHasChildren() {
    const site = state.site;
    return !!site && Array.isArray(site.subtree) && site.subtree.length > 0;
  }

  function renderReportForm() {
    if (!state.user) return;
    const may = mayReadReports();
    const denied = $('rep-denied');
    denied.hidden = may;
    if (!may) {
      denied.replaceChildren(el('strong', { className: 'readonly-badge', text: t('dev.viewOnly') }), ' ',
        t('rep.denied', { role: label('role', state.user.role) }));
    }
    $('rep-form').hidden = !may;
    const range = $('rep-kind').value === 'range';
    $('rep-year-field').hidden = range;
    $('rep-from-field').hidden = !range;
    $('rep-to-field').hidden = !range;
    const children = siteHasChildren();
    $('rep-scope-field').hidden = !children;
    if (!children) $('rep-scope').value = 'site';
  }

  // The query of the form: { period, scope, number } or null with the reason shown.
  function reportQuery() {
    const kind = $('rep-kind').value;
    let period;
    if (kind === 'range') {
      const from = $('rep-from').value;
      const to = $('rep-to').value;
      if (!from || !to) {
        $('rep-alert').textContent = t('rep.rangeMissing');
        $(from ? 'rep-to' : 'rep-from').focus();
        return null;
      }
      if (to < from) {
        $('rep-alert').textContent = t('rep.rangeOrder');
        $('rep-to').focus();
        return null;
      }
      period = `${from}..${to}`;
    } else {
      const year = $('rep-year').value;
      period = kind === 'year' ? year : `${year}-${kind}`;
    }
    return {
      period,
      scope: siteHasChildren() ? $('rep-scope').value : 'site',
      number: $('rep-number').value.trim().slice(0, 40),
    };
  }

  function reportUrl(query, format) {
    const params = new URLSearchParams({ period: query.period, scope: query.scope, format, lang: state.lang });
    if (query.number) params.set('number', query.number);
    return '/api/v1/reports?' + params.toString();
  }

  function showReportDenied() {
    state.reports.report = null;
    $('rep-alert').textContent = t('rep.denied', { role: label('role', state.user ? state.user.role : '') });
    renderReport();
  }

  async function submitReport(event) {
    event.preventDefault();
    clearMessages();
    $('rep-alert').textContent = '';
    const query = reportQuery();
    if (!query) return;
    const r = state.reports;
    const seq = ++r.seq;
    const epoch = state.epoch;
    $('rep-loading').hidden = false;
    await withDisabled(event.currentTarget, async () => {
      try {
        const report = await api('GET', reportUrl(query, 'json'));
        if (seq !== r.seq || epoch !== state.epoch) return;
        r.report = report;
        r.query = query;
        $('rep-filed-result').textContent = '';
        renderReport();
      } catch (err) {
        if (seq !== r.seq) return;
        if (err instanceof ApiError && err.status === 403) showReportDenied();
        else reportError(err, $('rep-alert'));
      } finally {
        if (seq === r.seq) $('rep-loading').hidden = true;
      }
    });
  }

  function periodName(period) {
    const p = obj(period);
    const year = /^(\d{4})/.exec(String(p.label ?? ''));
    if (['H1', 'H2', 'year'].includes(p.kind) && year) return t('rep.label.' + p.kind, { year: year[1] });
    return t('rep.label.range', { start: formatDay(p.start), end: formatDay(p.end) });
  }

  function renderReport() {
    const r = state.reports;
    const report = r.report;
    $('rep-result').hidden = !report;
    if (!report) return;
    const period = obj(report.period);
    const site = obj(report.site);
    $('rep-title').textContent = t('rep.title', { period: periodName(period), site: String(site.name || site.id || '') });

    const facts = [
      [t('rep.fact.period'), `${formatDay(period.start)} – ${formatDay(period.end)}`, 'report-period',
        num(period.cutoff_day) !== null ? t('rep.fact.cutoff', { day: period.cutoff_day }) : ''],
      [t('rep.fact.scope'), t('rep.scope.' + (report.scope === 'subtree' ? 'subtree' : 'site')), 'report-scope-shown'],
      [t('rep.fact.generated'), formatTime(report.generated_at), 'report-generated'],
    ];
    if (report.number) facts.push([t('rep.fact.number'), String(report.number), 'report-number-shown']);
    $('rep-facts').replaceChildren(...facts.map(([k, v, testid, sub]) => el('div', null, [
      el('dt', { text: k }),
      el('dd', { 'data-testid': testid }, [v, ...(sub ? [el('span', { className: 'sub', text: sub })] : [])]),
    ])));

    const query = r.query;
    $('rep-downloads').replaceChildren(el('span', { text: t('rep.download') }), ...REPORT_FORMATS.map((fmt) =>
      el('a', { className: 'btn btn-small', href: reportUrl(query, fmt), download: '', 'data-testid': 'report-download-' + fmt,
        text: t('rep.download.' + fmt) })));
    $('rep-filed-box').hidden = !userIn(FILER_ROLES);

    const tot = obj(report.totals);
    const totals = [
      [t('rep.tot.sites'), fmtPlain(tot.sites, 0)],
      [t('rep.tot.sessions'), `${fmtPlain(tot.sessions_attended, 0)} / ${fmtPlain(tot.sessions_invited, 0)}`],
      [t('rep.col.attendance'), fmtRate(tot.attendance_rate)],
      [t('rep.col.onTime'), fmtRate(tot.on_time_rate)],
      [t('rep.col.readiness'), fmtRate(tot.readiness_pass_rate)],
      [t('rep.tot.hosted'), fmtPlain(tot.sessions_hosted, 0)],
      [t('rep.col.hours'), fmtPlain(tot.hours_connected)],
      [t('rep.col.incidents'), fmtPlain(tot.incidents, 0)],
      [t('rep.col.mttr'), fmtPlain(tot.mttr_minutes)],
      [t('rep.col.availability'), fmtAvailability(tot.availability_percent)],
    ];
    $('rep-totals').replaceChildren(...totals.map(([k, v]) => el('div', null, [el('dt', { text: k }), el('dd', { text: v })])));

    const rows = arr(report.rows);
    $('rep-body').replaceChildren(...rows.map((row) => {
      const due = arr(row.maintenance_due);
      return el('tr', { 'data-testid': 'report-row-' + String(row.site ?? '') }, [
        el('th', { scope: 'row', text: String(row.name || row.site || '') }),
        el('td', { className: 'num', text: fmtPlain(row.sessions_invited, 0) }),
        el('td', { className: 'num', text: fmtPlain(row.sessions_attended, 0) }),
        el('td', { className: 'num', text: fmtRate(row.attendance_rate) }),
        el('td', { className: 'num', text: fmtRate(row.on_time_rate) }),
        el('td', { className: 'num', text: fmtRate(row.readiness_pass_rate) }),
        el('td', { className: 'num', text: fmtPlain(row.hours_connected) }),
        el('td', { className: 'num', text: fmtPlain(row.incidents, 0) }),
        el('td', { className: 'num', text: fmtPlain(row.mttr_minutes) }),
        el('td', { className: 'num', text: fmtAvailability(row.availability_percent) }),
        el('td', { className: 'maintenance' }, due.length
          ? [el('ul', { className: 'report-maintenance' }, due.map((d) => el('li', { text: String(d) })))]
          : [t('rep.noMaintenance')]),
      ]);
    }));
    $('rep-table').hidden = rows.length === 0;
    $('rep-empty').hidden = rows.length !== 0;
  }

  async function markReportFiled() {
    const r = state.reports;
    if (!r.report || !r.query) return;
    const period = r.query.period;
    const name = periodName(r.report.period);
    const result = $('rep-filed-result');
    result.textContent = '';
    if (!await confirmAction(t('rep.fileConfirmTitle', { period: name }), t('rep.fileConfirmText'), t('rep.fileOk'))) return;
    const button = $('rep-filed');
    button.disabled = true;
    try {
      await api('POST', '/api/v1/reports/filed', { period });
      if (r.query && r.query.period === period) feedback(result, t('rep.filed', { period: name }), 'ok');
    } catch (err) {
      if (!(err instanceof ApiError && err.handled)) feedback(result, err.message || t('err.http', { status: err.status }), 'error');
    } finally {
      button.disabled = false;
    }
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
    $('meeting-new').addEventListener('click', openMeetingForm);
    $('new-cancel').addEventListener('click', closeMeetingForm);
    $('meeting-form').addEventListener('submit', submitMeeting);
    $('local-control-switch').addEventListener('change', toggleLocalControl);
    $('inc-report-open').addEventListener('click', openIncidentForm);
    $('inc-new-cancel').addEventListener('click', closeIncidentForm);
    $('inc-new-form').addEventListener('submit', submitIncident);
    $('rep-form').addEventListener('submit', submitReport);
    $('rep-kind').addEventListener('change', renderReportForm);
    $('rep-filed').addEventListener('click', markReportFiled);
    for (const id of ['inc-filter-state', 'inc-filter-scope']) {
      $(id).addEventListener('change', () => { state.incidents.listSig = ''; loadIncidents(); });
    }
    window.addEventListener('hashchange', () => route(true));
    // Poll devices and calls only while someone can see them.
    document.addEventListener('visibilitychange', () => {
      if (!state.user) return;
      const hidden = document.visibilityState === 'hidden';
      if (state.section === 'devices') {
        if (hidden) stopDevices();
        else loadDevices();
      } else if (state.section === 'sessions') {
        if (hidden) {
          stopCalls();
          stopMeetings();
        } else {
          loadCalls();
          startMeetings();
        }
      } else if (state.section === 'incidents') {
        if (hidden) stopIncidents();
        else loadIncidents();
      }
    });
    // Letting go of a key or the mouse outside the page must still stop a moving camera.
    window.addEventListener('blur', haltAllMotion);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
