# Sidekiq's own API over the shared Redis: `ruby api.rb COMMAND [ARG]` prints what Ruby sees as JSON,
# or performs an operator action (retry, quiet, stop) the way the Web UI would.
require_relative "jobs"
require "sidekiq/api"

def entry(e)
  { "klass" => e.klass, "display_class" => e.display_class, "args" => e.args, "jid" => e.jid,
    "queue" => e.queue, "error_class" => e["error_class"], "error_message" => e["error_message"],
    "retry_count" => e["retry_count"], "at" => e.at.to_f, "score" => e.score,
    "failed_at" => e["failed_at"], "enqueued_at" => e.enqueued_at&.to_f, "created_at" => e.created_at.to_f,
    "error_backtrace" => e.error_backtrace }
end

def process(p)
  { "identity" => p.identity, "tag" => p.tag, "labels" => p.labels, "queues" => p.queues,
    "busy" => p["busy"], "concurrency" => p["concurrency"], "quiet" => p["quiet"],
    "stopping" => p.stopping?, "hostname" => p["hostname"], "pid" => p["pid"],
    "started_at" => p["started_at"], "beat" => p["beat"], "rss" => p["rss"] }
end

command, arg = ARGV
out =
  case command
  when "retries" then Sidekiq::RetrySet.new.map { |e| entry(e) }
  when "dead" then Sidekiq::DeadSet.new.map { |e| entry(e) }
  when "scheduled" then Sidekiq::ScheduledSet.new.map { |e| entry(e) }
  when "push"
    # a raw Client.push of the JSON object in arg, as any Ruby app would call it
    { "jid" => Sidekiq::Client.push(JSON.parse(arg)) }
  when "retry_one" then Sidekiq::RetrySet.new.find_job(arg).retry
  when "retry_all" then Sidekiq::RetrySet.new.retry_all
  when "retry_dead" then Sidekiq::DeadSet.new.find_job(arg).retry
  when "queue"
    q = Sidekiq::Queue.new(arg)
    { "size" => q.size, "latency" => q.latency, "jobs" => q.map { |j| { "klass" => j.klass, "jid" => j.jid, "args" => j.args, "retry_count" => j["retry_count"] } } }
  when "processes" then Sidekiq::ProcessSet.new.map { |p| process(p) }
  when "workers"
    Sidekiq::Workers.new.map do |identity, tid, work|
      { "identity" => identity, "tid" => tid, "queue" => work["queue"], "run_at" => work["run_at"],
        "jid" => work["payload"]["jid"], "class" => work["payload"]["class"], "args" => work["payload"]["args"] }
    end
  when "stats"
    s = Sidekiq::Stats.new
    { "processed" => s.processed, "failed" => s.failed, "workers_size" => s.workers_size,
      "processes_size" => s.processes_size, "enqueued" => s.enqueued, "retry_size" => s.retry_size,
      "dead_size" => s.dead_size, "scheduled_size" => s.scheduled_size,
      "history" => Sidekiq::Stats::History.new(1).processed }
  when "reserialized"
    # every member and queue entry whose bytes differ from Ruby's own JSON of the same job
    sets = [Sidekiq::ScheduledSet.new, Sidekiq::RetrySet.new, Sidekiq::DeadSet.new]
    entries = sets.flat_map(&:to_a) + Sidekiq::Queue.all.flat_map(&:to_a)
    different = entries.filter_map { |e| [e.value, Sidekiq.dump_json(e.item)] if Sidekiq.dump_json(e.item) != e.value }
    { "checked" => entries.size, "different" => different }
  when "reschedule"
    Sidekiq::ScheduledSet.new.each { |e| e.reschedule(e.at + Float(arg)) }
    Sidekiq::ScheduledSet.new.map { |e| { "jid" => e.jid, "score" => e.score } }
  when "delete_kill_add"
    # the Web UI's Delete (queue), Kill, Add to Queue and Delete (scheduled) on one job each
    Sidekiq::Queue.new(arg).each(&:delete)
    first, second, third = Sidekiq::ScheduledSet.new.to_a
    first.kill
    second.add_to_queue
    third.delete
  when "quiet" then Sidekiq::ProcessSet.new.each(&:quiet!)
  when "stop" then Sidekiq::ProcessSet.new.each(&:stop!)
  else abort "unknown command #{command.inspect}"
  end
puts JSON.generate(out.is_a?(Array) || out.is_a?(Hash) ? out : { "done" => true })
