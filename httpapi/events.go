package httpapi

// eventRoutes registers the Panko v2 and stream endpoints (issue: events).
func (s *Server) eventRoutes() {}
