# Ruby Sidekiq 6.4 (Debian's ruby-sidekiq): `sidekiq -r ./sidekiq_app.rb -c 10`; run with ruby it enqueues.
# Same jobs as the Python apps: a no-op appends one byte to $BENCH_LEDGER, a latency job appends the
# seconds since its enqueue to $BENCH_LATENCY. Log at WARN (or INFO, see below) and redis-rb's per-fetch
# deprecation silenced.
require "sidekiq"
require "json"

Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
Sidekiq.configure_server { |config| config.redis = { url: ENV.fetch("BENCH_URL") } }
Sidekiq.configure_client { |config| config.redis = { url: ENV.fetch("BENCH_URL") } }
# WARN unless BENCH_SIDEKIQ_LOG_LEVEL=INFO (bench/run.py's "sidekiq-info": its default level)
Sidekiq.logger.level = ENV["BENCH_SIDEKIQ_LOG_LEVEL"] == "INFO" ? Logger::INFO : Logger::WARN

LEDGER = File.open(ENV.fetch("BENCH_LEDGER", File::NULL), "a")
LEDGER.sync = true
LATENCY = File.open(ENV.fetch("BENCH_LATENCY", File::NULL), "a")
LATENCY.sync = true

class NoopJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(n)
    LEDGER.syswrite(".")
  end
end

class LatencyJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(enqueued_at)
    LATENCY.syswrite(format("%.6f\n", Time.now.to_f - enqueued_at))
  end
end

def latency_lines
  path = ENV.fetch("BENCH_LATENCY")
  File.exist?(path) ? File.read(path).count("\n") : 0
end

if $PROGRAM_NAME == __FILE__
  mode = ARGV[0]
  count = Integer(ARGV[1])
  # connect outside the timed part, as the Python apps do
  LatencyJob.perform_async(Time.now.to_f) if %w[single bulk].include?(mode)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  case mode
  when "single"
    count.times { |n| NoopJob.perform_async(n) }
  when "bulk"
    (0...count).each_slice(1000) { |slice| Sidekiq::Client.push_bulk("class" => NoopJob, "args" => slice.map { |n| [n] }) }
  when "latency"
    count.times do |n|
      sleep 0.005
      LatencyJob.perform_async(Time.now.to_f)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
      until latency_lines >= n + 1
        abort "latency job #{n} did not run within 10 s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        sleep 0.0002
      end
    end
  end
  puts JSON.generate(seconds: Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
end
