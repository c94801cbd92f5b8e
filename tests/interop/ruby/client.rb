# Enqueues HardJob jobs every way Sidekiq's client can, for a sidequest worker to run.
# Prints one JSON object: jid => args for every job pushed.
require_relative "jobs"

pushed = {}
pushed[HardJob.perform_async(1, "two", { "three" => [3] }, nil, true, 1.5)] = [1, "two", { "three" => [3] }, nil, true, 1.5]
pushed[Sidekiq::Client.push("class" => "HardJob", "args" => ["by name"], "queue" => "default")] = ["by name"]
pushed[Sidekiq::Client.push("class" => HardJob, "args" => ["utf-8 ✓ ünïcode"])] = ["utf-8 ✓ ünïcode"]
pushed[HardJob.perform_in(1, "in one second")] = ["in one second"]
pushed[Sidekiq::Client.push("class" => "HardJob", "args" => ["at"], "at" => Time.now.to_f + 1.5)] = ["at"]
bulk_args = [["bulk", 1], ["bulk", 2], ["bulk", 3]]
Sidekiq::Client.push_bulk("class" => HardJob, "args" => bulk_args).zip(bulk_args) { |jid, args| pushed[jid] = args }
puts JSON.generate(pushed)
