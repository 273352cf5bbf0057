-- wrk script of bench/web.py: GET the paths listed in TOLLGATE_PATHS_FILE (one a line) in turn,
-- as many shoppers each on their own status page would; each wrk thread starts at its own line.
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(os.getenv("TOLLGATE_PATHS_FILE")) do
    table.insert(paths, line)
  end
  next_path = index % #paths
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end
