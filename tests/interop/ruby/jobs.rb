# Ruby side of the interop tests: Sidekiq 6.4 set up against the private Redis named by REDIS_URL.
# HardJob is the Ruby job of the shared name; sidequest tests register a Python job of that name too.
require "sidekiq"
require "json"
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

Sidekiq.configure_client { |config| config.redis = { url: ENV.fetch("REDIS_URL") } }
# Marks the jobs this process pushes; Sidekiq's scheduler pushes due jobs through the client, so a
# job moved from the schedule by Ruby carries the mark and one moved by sidequest does not.
class MarkMovedByRuby
  def call(_job_class, job, _queue, _redis_pool)
    job["moved_by"] = "ruby"
    yield
  end
end

Sidekiq.configure_server do |config|
  config.redis = { url: ENV.fetch("REDIS_URL") }
  config.client_middleware { |chain| chain.add(MarkMovedByRuby) }
  # 6.4 waits 5-15 s before its first scheduler poll and then ~5 s between polls; setting the
  # average skips the fixed 10 s and polls about once a second, so scheduled tests stay short
  config.options[:poll_interval_average] = 1
end

class HardJob
  include Sidekiq::Worker

  def perform(*args)
    line = JSON.generate({ "runtime" => "ruby", "jid" => jid, "args" => args })
    File.open(ENV.fetch("LEDGER"), "a") { |ledger| ledger.puts(line) }
  end
end
