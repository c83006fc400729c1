package admin

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/auth"
)

// Route is one UI route and the permission it needs. Routes whose first
// wildcard is {workspaceId} are checked against the user's role in that
// workspace; the others need only a session (PermAccount) or nothing
// (PermPublic).
type Route struct {
	Method  string
	Pattern string
	Perm    auth.Permission
	Handle  handler
}

// Routes lists every route of the UI (CONVENTIONS 3). Nothing is served that
// is not listed here, except the embedded static files under /static/.
func (u *UI) Routes() []Route {
	const get, post = http.MethodGet, http.MethodPost
	return []Route{
		{get, "/{$}", auth.PermPublic, u.home},
		{get, "/login", auth.PermPublic, u.loginPage},
		{post, "/login", auth.PermPublic, u.login},
		{get, "/login/mfa", auth.PermPublic, u.mfaPage},
		{post, "/login/mfa", auth.PermPublic, u.mfa},
		{get, "/signup", auth.PermPublic, u.signupPage},
		{post, "/signup", auth.PermPublic, u.signup},
		{get, "/setup/{token}", auth.PermPublic, u.setupPage},
		{post, "/setup/{token}", auth.PermPublic, u.setup},
		{get, "/invite/{token}", auth.PermPublic, u.invitePage},
		{post, "/invite/{token}", auth.PermPublic, u.invite},
		{get, "/forgot", auth.PermPublic, u.forgotPage},
		{post, "/forgot", auth.PermPublic, u.forgot},
		{get, "/reset/{token}", auth.PermPublic, u.resetPage},
		{post, "/reset/{token}", auth.PermPublic, u.reset},
		{get, "/verify/{token}", auth.PermPublic, u.verifyPage},
		{post, "/verify/{token}", auth.PermPublic, u.verify},

		{post, "/logout", auth.PermAccount, u.logout},
		{get, "/account", auth.PermAccount, u.accountPage},
		{post, "/account/password", auth.PermAccount, u.changePassword},
		{post, "/account/verify", auth.PermAccount, u.resendVerification},
		{get, "/account/delete", auth.PermAccount, u.deleteAccountPage},
		{post, "/account/delete", auth.PermAccount, u.deleteAccount},
		{get, "/account/sessions", auth.PermAccount, u.sessionsPage},
		{post, "/account/sessions/{sessionId}/revoke", auth.PermAccount, u.revokeSession},
		{get, "/account/2fa", auth.PermAccount, u.twoFAPage},
		{post, "/account/2fa/begin", auth.PermAccount, u.beginTOTP},
		{post, "/account/2fa/confirm", auth.PermAccount, u.confirmTOTP},
		{post, "/account/2fa/disable", auth.PermAccount, u.disableTOTP},
		{post, "/account/2fa/recovery", auth.PermAccount, u.regenerateCodes},
		{post, "/account/export", auth.PermAccount, u.exportAccount},

		{get, "/w/{workspaceId}", auth.PermWorkspaceRead, u.workspacePage},
		{get, "/w/{workspaceId}/dashboard", auth.PermWorkspaceRead, u.dashboardPage},
		{get, "/w/{workspaceId}/members", auth.PermMembersRead, u.membersPage},
		{post, "/w/{workspaceId}/members/invite", auth.PermMembersWrite, u.inviteMember},
		{post, "/w/{workspaceId}/members/{memberId}/role", auth.PermMembersWrite, u.changeRole},
		{post, "/w/{workspaceId}/members/{memberId}/remove", auth.PermMembersWrite, u.removeMember},
		{post, "/w/{workspaceId}/invitations/{invitationId}/revoke", auth.PermMembersWrite, u.revokeInvitation},
		{get, "/w/{workspaceId}/keys", auth.PermKeysRead, u.keysPage},
		{post, "/w/{workspaceId}/keys", auth.PermKeysWrite, u.createKey},
		{post, "/w/{workspaceId}/keys/{keyId}/revoke", auth.PermKeysWrite, u.revokeKey},
		{get, "/w/{workspaceId}/settings", auth.PermSettingsRead, u.settingsPage},
		{post, "/w/{workspaceId}/settings/mfa", auth.PermOwnership, u.setRequireMFA},
		{get, "/w/{workspaceId}/settings/models", auth.PermSettingsRead, u.modelsPage},
		{post, "/w/{workspaceId}/settings/models", auth.PermSettingsWrite, u.setModels},
		{post, "/w/{workspaceId}/settings/export", auth.PermDataExport, u.exportWorkspace},
		{post, "/w/{workspaceId}/settings/retention", auth.PermSettingsWrite, u.setRetention},
		{get, "/w/{workspaceId}/delete", auth.PermWorkspaceDelete, u.deleteWorkspacePage},
		{post, "/w/{workspaceId}/delete", auth.PermWorkspaceDelete, u.deleteWorkspace},
		{get, "/w/{workspaceId}/bots", auth.PermBotsRead, u.botsPage},
		{post, "/w/{workspaceId}/bots", auth.PermBotsWrite, u.createBot},
		{get, "/w/{workspaceId}/bots/new", auth.PermBotsWrite, u.newBotPage},
		{get, "/w/{workspaceId}/bots/{botId}", auth.PermBotsRead, u.botPage},
		{post, "/w/{workspaceId}/bots/{botId}", auth.PermBotsWrite, u.updateBot},
		{get, "/w/{workspaceId}/bots/{botId}/delete", auth.PermBotsWrite, u.deleteBotPage},
		{post, "/w/{workspaceId}/bots/{botId}/delete", auth.PermBotsWrite, u.deleteBot},
		{get, "/w/{workspaceId}/bots/{botId}/documents", auth.PermDocumentsRead, u.documentsPage},
		{post, "/w/{workspaceId}/bots/{botId}/documents", auth.PermDocumentsWrite, u.uploadDocument},
		{post, "/w/{workspaceId}/bots/{botId}/documents/{documentId}/delete", auth.PermDocumentsWrite, u.deleteDocument},
		{get, "/w/{workspaceId}/bots/{botId}/try", auth.PermMessagesSend, u.tryPage},
		{post, "/w/{workspaceId}/bots/{botId}/try", auth.PermMessagesSend, u.tryAsk},
		{post, "/w/{workspaceId}/bots/{botId}/try/stream", auth.PermMessagesSend, u.tryStream},
		{get, "/w/{workspaceId}/bots/{botId}/channels", auth.PermChannelsRead, u.channelsPage},
		{post, "/w/{workspaceId}/bots/{botId}/channels", auth.PermChannelsWrite, u.connectChannel},
		// A connection test changes nothing: reading channels is enough.
		{post, "/w/{workspaceId}/bots/{botId}/channels/{channelId}/test", auth.PermChannelsRead, u.testChannel},
		{post, "/w/{workspaceId}/bots/{botId}/channels/{channelId}/rotate", auth.PermChannelsWrite, u.rotateChannel},
		{post, "/w/{workspaceId}/bots/{botId}/channels/{channelId}/delete", auth.PermChannelsWrite, u.disconnectChannel},
		{get, "/w/{workspaceId}/audit", auth.PermAuditRead, u.auditPage},
		{get, "/w/{workspaceId}/conversations", auth.PermConversationsRead, u.conversationsPage},
		{get, "/w/{workspaceId}/conversations/{conversationId}", auth.PermConversationsRead, u.transcriptPage},
	}
}
