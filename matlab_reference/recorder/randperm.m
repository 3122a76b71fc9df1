function p = randperm(varargin)
  % Shadows the built-in randperm: draws with the built-in, then appends the
  % result to the global RANDPERM_LOG (a cell array) so a driver can save the
  % permutations that cnntrain drew.
  global RANDPERM_LOG
  p = builtin('randperm', varargin{:});
  if ~iscell(RANDPERM_LOG)
    RANDPERM_LOG = {};
  end
  RANDPERM_LOG{end + 1} = p;
end
