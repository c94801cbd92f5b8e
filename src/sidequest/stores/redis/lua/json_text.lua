-- Reading the top level of a JSON object's text without decoding it, for the scripts that edit
-- payloads in place (promote.lua, recover.lua). Not a script of its own: scripts.source() puts this
-- text where a script says "-- include: json_text". Mirrors payload.top_level_value_span.

-- Index of the quote closing the JSON string that opens at position `opening`, or nil.
local function string_end(s, opening)
  local position = opening + 1
  while true do
    local stop = string.find(s, '["\\]', position)
    if not stop then
      return nil
    end
    if string.sub(s, stop, stop) == '\\' then
      position = stop + 2
    else
      return stop
    end
  end
end

-- First and last position of the value of `key` in the outermost object, skipping strings and
-- nested values (so an argument that contains the key is never touched).
local function top_level_value_span(s, key)
  local target = '"' .. key .. '"'
  local depth = 0
  local position = 1
  while true do
    local index = string.find(s, '["{}%[%]]', position)
    if not index then
      return nil
    end
    local char = string.sub(s, index, index)
    if char ~= '"' then
      if char == '{' or char == '[' then
        depth = depth + 1
      else
        depth = depth - 1
      end
      position = index + 1
    else
      local close = string_end(s, index)
      if not close then
        return nil
      end
      if depth == 1 and string.sub(s, index, close) == target then
        local colon = string.find(s, '%S', close + 1)
        if colon and string.sub(s, colon, colon) == ':' then
          local first = string.find(s, '%S', colon + 1)
          if first then
            if string.sub(s, first, first) == '"' then
              local last = string_end(s, first)
              if not last then
                return nil
              end
              return first, last
            end
            local stop = string.find(s, '[,}%s]', first)
            if stop then
              return first, stop - 1
            end
            return first, #s
          end
        end
      end
      position = close + 1
    end
  end
end
