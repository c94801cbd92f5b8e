# Serves Sidekiq's own Web UI (6.4, a Rack app) on 127.0.0.1:PORT with WEBrick: `ruby web.rb PORT`.
require_relative "jobs"
require "sidekiq/web"
require "rack"
require "rack/session/cookie"
require "webrick"
require "securerandom"

app = Rack::Builder.new do
  # 6.4's CSRF protection needs a session
  use Rack::Session::Cookie, secret: SecureRandom.hex(32), same_site: true, max_age: 86_400
  run Sidekiq::Web
end
Rack::Handler::WEBrick.run(app, Host: "127.0.0.1", Port: Integer(ARGV.fetch(0)),
  Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN), AccessLog: [])
